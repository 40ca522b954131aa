// Reads an XState machine's definition into the plain tree of states and list of transitions a diagram draws.
import type { AnyStateMachine, AnyStateNode } from 'xstate'

export type StateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history'

export interface StateInfo {
  /** The node's path joined with '.'; '' for the machine itself. */
  path: string
  key: string
  kind: StateKind
  depth: number
  children: StateInfo[]
  /** The path of the initial child of a compound state, or null. */
  initial: string | null
  /** Whether the state is a region of a parallel state. */
  region: boolean
}

export interface TransitionInfo {
  /** Document order over the whole machine. */
  index: number
  source: string
  /** '' for a transition without a target (actions only), and for one to the machine itself. */
  target: string
  /** A transition without a target: it only runs actions. */
  targetless: boolean
  /** The event type XState gives the transition ('' for `always`). */
  event: string
  /** The name of an `after` delay, or null. */
  delay: string | null
  /** `EVENT [guard]`, `after <delay>`, `always [guard]`. */
  label: string
  actions: string[]
}

export interface MachineGraph {
  id: string
  root: StateInfo
  states: Map<string, StateInfo>
  transitions: TransitionInfo[]
}

type Named = { type?: unknown; name?: unknown; guards?: unknown; stateValue?: unknown }

const AFTER_PREFIX = 'xstate.after.'

const pathOf = (node: AnyStateNode): string => node.path.join('.')

/** The name a machine gives an action: its type, without XState's own `xstate.` prefix. */
const actionName = (action: unknown): string => {
  if (typeof action === 'string') return action
  const type = (action as Named | null)?.type
  if (typeof type === 'string') return type.replace(/^xstate\./, '')
  if (typeof action === 'function' && action.name && action.name !== 'actions') return action.name
  return 'inline'
}

const guardName = (guard: unknown): string | null => {
  if (guard === undefined || guard === null) return null
  if (typeof guard === 'string') return guard
  const named = guard as Named
  if (typeof guard !== 'function') return typeof named.type === 'string' ? named.type : 'guard'
  if (Array.isArray(named.guards)) {
    const parts = named.guards.map((g) => guardName(g) ?? 'guard')
    if (guard.name === 'not') return `!${parts[0] ?? 'guard'}`
    return `(${parts.join(guard.name === 'or' ? ' || ' : ' && ')})`
  }
  if (named.stateValue !== undefined) {
    const value = named.stateValue
    return `in ${typeof value === 'string' ? value : JSON.stringify(value)}`
  }
  return guard.name && guard.name !== 'guard' ? guard.name : 'guard'
}

/** `xstate.after.<delay>.<state id>` → `<delay>`. */
const delayFromEvent = (eventType: string): string => {
  const rest = eventType.slice(AFTER_PREFIX.length)
  const dot = rest.indexOf('.')
  return dot < 0 ? rest : rest.slice(0, dot)
}

const delayName = (delay: unknown, eventType: string): string => {
  if (typeof delay === 'string') return delay
  if (typeof delay === 'number') return `${delay}ms`
  return delayFromEvent(eventType)
}

const readState = (node: AnyStateNode, depth: number, region: boolean): StateInfo => {
  const kind = node.type as StateKind
  const children = Object.values(node.states as Record<string, AnyStateNode>).map((child) =>
    readState(child, depth + 1, kind === 'parallel'),
  )
  const initialTarget = kind === 'compound' ? node.initial?.target?.[0] : undefined
  const initial = initialTarget ? pathOf(initialTarget) : (children[0]?.path ?? null)
  return {
    path: pathOf(node),
    key: node.key,
    kind,
    depth,
    children,
    initial: kind === 'compound' ? initial : null,
    region,
  }
}

type TransitionLike = { target?: readonly AnyStateNode[]; guard?: unknown; actions?: readonly unknown[] }

const readTransitions = (node: AnyStateNode, out: TransitionInfo[]): void => {
  const delays = new Map<string, unknown>(node.after.map((t) => [t.eventType as string, t.delay]))
  const add = (event: string, transition: TransitionLike) => {
    const delay = event.startsWith(AFTER_PREFIX) ? delayName(delays.get(event), event) : null
    const guard = guardName(transition.guard)
    const eventLabel = event === '' ? 'always' : delay !== null ? `after ${delay}` : event
    const base = {
      source: pathOf(node),
      event,
      delay,
      label: guard === null ? eventLabel : `${eventLabel} [${guard}]`,
      actions: (transition.actions ?? []).map(actionName),
    }
    const targets = transition.target ?? []
    if (targets.length === 0) out.push({ ...base, index: out.length, target: '', targetless: true })
    for (const target of targets) {
      out.push({ ...base, index: out.length, target: pathOf(target), targetless: false })
    }
  }
  for (const [event, transitions] of node.transitions) {
    for (const transition of transitions) add(event, transition as TransitionLike)
  }
  for (const transition of node.always ?? []) add('', transition as TransitionLike)
  for (const child of Object.values(node.states as Record<string, AnyStateNode>)) readTransitions(child, out)
}

/**
 * The states and transitions of a machine, in document order.
 *
 * @example
 * const graph = readMachine(sessionMachine)
 * graph.transitions.filter((t) => t.delay === 'keepalive') // [{ source: 'ready.idle', target: 'ready.probing', … }]
 */
export const readMachine = (machine: AnyStateMachine): MachineGraph => {
  const root = readState(machine.root, 0, false)
  const states = new Map<string, StateInfo>()
  const index = (state: StateInfo) => {
    states.set(state.path, state)
    for (const child of state.children) index(child)
  }
  index(root)
  const transitions: TransitionInfo[] = []
  readTransitions(machine.root, transitions)
  return { id: machine.id, root, states, transitions }
}

/** The text a transition without a target shows inside its state: `EVENT [guard] / action1, action2`. */
export const noteText = (transition: TransitionInfo): string =>
  transition.actions.length === 0
    ? transition.label
    : `${transition.label} / ${transition.actions.join(', ')}`

/**
 * Every state node's path joined with '.', in document order (the machine itself left out).
 *
 * @example
 * statePaths(sessionMachine) // ['initial', 'stopped', 'starting', …, 'ready', 'ready.idle', 'ready.probing', …]
 */
export const statePaths = (machine: AnyStateMachine): string[] => {
  const out: string[] = []
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states as Record<string, AnyStateNode>)) {
      out.push(pathOf(child))
      walk(child)
    }
  }
  walk(machine.root)
  return out
}
