// A faster folder for flat machines, used to rebuild projections. It reads the machine's own definition —
// its states, transitions, guards, assigns, entry and exit actions and delays, as xstate has normalised
// them — and applies a fact the way xstate's transition does, without building xstate snapshot objects
// (xstate's `transition` costs about ten microseconds a step; this, about one). The machine still
// decides: every guard, assign and delay that runs is the machine's.
//
// Only the subset the job machine uses is compiled: a root with atomic and final children, transitions
// with at most one sibling target, named or inline guards, and assign, raise-with-delay, cancel and
// effect actions. A machine with anything else (nested or parallel states, `always`, invocations,
// other built-in actions) is not compiled, and rebuild folds it with xstate. A property test holds the
// two folders equal on random histories.
import type { AnyStateMachine } from 'xstate'
import {
  delayNameOf,
  type Effect,
  type Folder,
  refusedStep,
  type Snapshot,
  type TimerChange,
} from './fold.ts'

type Ctx = Record<string, unknown>
type Fn = (...args: never[]) => unknown

/** The parts of a normalised xstate transition this folder reads. */
interface TransitionDef {
  target?: readonly StateNodeDef[]
  guard?: unknown
  actions: readonly unknown[]
  reenter?: boolean
  eventType: string
}

/** The parts of an xstate state node this folder reads. */
interface StateNodeDef {
  key: string
  type: string
  parent?: StateNodeDef
  states: Record<string, StateNodeDef>
  transitions: Map<string, TransitionDef[]>
  after: { eventType: string; delay?: unknown }[]
  always?: unknown
  entry: unknown[]
  exit: unknown[]
  invoke: unknown[]
  config: Record<string, unknown>
}

interface Implementations {
  actions: Record<string, unknown>
  guards: Record<string, unknown>
  delays: Record<string, unknown>
}

/** The snapshot this folder works on: what a projection row keeps of an xstate snapshot. */
export interface CompiledSnapshot {
  value: string
  context: Ctx
  status: 'active' | 'done'
}

interface Compiled {
  transitions: Map<string, TransitionDef[]>
  afterByDelay: Map<unknown, string>
  entry: readonly unknown[]
  exit: readonly unknown[]
  final: boolean
}

const BUILTINS = new Set(['xstate.assign', 'xstate.raise', 'xstate.cancel'])

const isBuiltin = (a: unknown): a is { type: string; resolve: Fn } =>
  typeof a === 'function' && 'resolve' in a && typeof (a as { type?: unknown }).type === 'string'

/** Why the machine cannot be compiled, or null when it can. */
const checkMachine = (machine: AnyStateMachine): string | null => {
  const root = machine.root as unknown as StateNodeDef
  const impl = machine.implementations as unknown as Implementations
  if (root.type !== 'compound') return 'the root is not a compound state'
  if (root.entry.length || root.exit.length || root.always || root.invoke.length || root.after.length)
    return 'the root has entry, exit, always, after or invoke'
  if (root.config['output'] !== undefined) return 'the machine declares an output'
  const actionProblem = (a: unknown): string | null => {
    const resolved =
      typeof a === 'function'
        ? a
        : impl.actions[typeof a === 'string' ? a : ((a as { type?: string } | null)?.type ?? '')]
    if (resolved === undefined || !isBuiltin(resolved)) {
      if (resolved !== undefined && typeof resolved !== 'function') return 'an action is not a function'
      return null
    }
    if (!BUILTINS.has(resolved.type)) return `built-in action ${resolved.type}`
    if (resolved.type === 'xstate.raise') {
      const r = resolved as unknown as { event: unknown; id: unknown; delay: unknown }
      if (typeof r.id !== 'string' || r.delay === undefined || typeof r.event !== 'object')
        return 'a raise without an id or a delay'
    }
    if (
      resolved.type === 'xstate.cancel' &&
      typeof (resolved as unknown as { sendId: unknown }).sendId !== 'string'
    )
      return 'a cancel whose id is computed'
    return null
  }
  const guardProblem = (g: unknown): string | null => {
    if (g === undefined || typeof g === 'function') return null
    const name = typeof g === 'string' ? g : (g as { type?: string }).type
    const resolved = name === undefined ? undefined : impl.guards[name]
    if (typeof resolved !== 'function' || 'check' in resolved)
      return `guard ${String(name)} is not a plain function`
    return null
  }
  const nodes = [root, ...Object.values(root.states)]
  for (const node of nodes) {
    if (node !== root) {
      if (node.type !== 'atomic' && node.type !== 'final') return `state ${node.key} is ${node.type}`
      if (node.always || node.invoke.length) return `state ${node.key} has always or invoke`
    }
    for (const a of [...node.entry, ...node.exit]) {
      const p = actionProblem(a)
      if (p) return `state ${node.key}: ${p}`
    }
    for (const [descriptor, list] of node.transitions) {
      if (descriptor.includes('*')) return `wildcard transition ${descriptor}`
      for (const t of list) {
        if (t.reenter) return `reentering transition on ${descriptor}`
        if (t.target && (t.target.length !== 1 || t.target[0]?.parent !== root || t.target[0] === node))
          return `transition on ${descriptor} does not target one sibling`
        const g = guardProblem(t.guard)
        if (g) return g
        for (const a of t.actions) {
          const p = actionProblem(a)
          if (p) return `transition on ${descriptor}: ${p}`
        }
      }
    }
  }
  return null
}

/**
 * @returns the compiled folder, or the reason the machine is outside the compiled subset
 *
 * @example
 * const compiled = compileFolder(jobMachine, { untilDue: 'JobDue' })
 * const folder = 'folder' in compiled ? compiled.folder : createFolder(jobMachine, { untilDue: 'JobDue' })
 */
export const compileFolder = (
  machine: AnyStateMachine,
  timerFacts: Record<string, string>,
): { folder: Folder } | { reason: string } => {
  const reason = checkMachine(machine)
  if (reason) return { reason }
  const root = machine.root as unknown as StateNodeDef
  const impl = machine.implementations as unknown as Implementations
  const start = machine.getInitialSnapshot({} as never) as Snapshot
  if (typeof start.value !== 'string') return { reason: 'the initial state is not a string' }

  const delayOfFact = new Map(Object.entries(timerFacts).map(([delay, fact]) => [fact, delay]))
  const states = new Map<string, Compiled>()
  for (const [key, node] of Object.entries(root.states)) {
    states.set(key, {
      transitions: node.transitions,
      afterByDelay: new Map(node.after.map((t) => [t.delay, t.eventType])),
      entry: node.entry,
      exit: node.exit,
      final: node.type === 'final',
    })
  }
  const initial: CompiledSnapshot = {
    value: start.value,
    context: start.context as Ctx,
    status: states.get(start.value)?.final ? 'done' : 'active',
  }

  const passes = (guard: unknown, context: Ctx, event: Ctx): boolean => {
    if (guard === undefined) return true
    if (typeof guard === 'function') return Boolean(guard({ context, event }, undefined))
    if (typeof guard === 'string') return Boolean((impl.guards[guard] as Fn)({ context, event } as never))
    const g = guard as { type: string; params?: unknown }
    const params = typeof g.params === 'function' ? g.params({ context, event }) : g.params
    return Boolean((impl.guards[g.type] as Fn)({ context, event } as never, params as never))
  }

  const select = (transitions: Map<string, TransitionDef[]>, context: Ctx, event: Ctx) => {
    const candidates = transitions.get(event['type'] as string)
    if (candidates === undefined) return undefined
    for (const t of candidates) if (passes(t.guard, context, event)) return t
    return undefined
  }

  /** Runs actions in order, as xstate resolves them; returns the context they leave. */
  const run = (
    actions: readonly unknown[],
    context: Ctx,
    event: Ctx,
    effects: Effect[],
    timers: TimerChange[],
  ): Ctx => {
    let ctx = context
    for (const action of actions) {
      const inline = typeof action === 'function'
      const name = typeof action === 'string' ? action : inline ? '' : (action as { type: string }).type
      const resolved = inline ? action : impl.actions[name]
      const params =
        inline || typeof action === 'string' || !('params' in (action as object))
          ? undefined
          : typeof (action as { params: unknown }).params === 'function'
            ? (action as { params: Fn }).params({ context: ctx, event } as never)
            : (action as { params: unknown }).params
      if (!isBuiltin(resolved)) {
        const type = inline ? (action as Fn).name || '(anonymous)' : name
        effects.push(params === undefined ? { type } : { type, params })
        continue
      }
      const args = { context: ctx, event }
      switch (resolved.type) {
        case 'xstate.assign': {
          const assignment = (resolved as unknown as { assignment: unknown }).assignment
          let partial: Ctx
          if (typeof assignment === 'function') {
            partial = assignment(args, params) as Ctx
          } else {
            partial = {}
            for (const [k, v] of Object.entries(assignment as Ctx))
              partial[k] = typeof v === 'function' ? v(args, params) : v
          }
          ctx = { ...ctx, ...partial }
          break
        }
        case 'xstate.raise': {
          const r = resolved as unknown as { id: string; delay: unknown }
          const configured = typeof r.delay === 'string' ? impl.delays[r.delay] : r.delay
          const delayMs = typeof configured === 'function' ? configured(args, params) : configured
          if (typeof delayMs !== 'number')
            throw new Error(`delay ${String(r.delay)} did not give a number of milliseconds`)
          timers.push({ kind: 'armed', timerId: r.id, delay: delayNameOf(r.id), delayMs })
          break
        }
        case 'xstate.cancel':
          timers.push({ kind: 'cancelled', timerId: (resolved as unknown as { sendId: string }).sendId })
          break
      }
    }
    return ctx
  }

  const toMachineEvent = (snapshot: Snapshot, type: string, data: Record<string, unknown>) => {
    const delay = delayOfFact.get(type)
    if (delay === undefined) return { ...data, type }
    const eventType = states.get((snapshot as unknown as CompiledSnapshot).value)?.afterByDelay.get(delay)
    return eventType === undefined ? null : { ...data, type: eventType }
  }

  const folder: Folder = {
    machine,
    initial: initial as unknown as Snapshot,
    toMachineEvent,
    restore: (state, context) =>
      ({
        value: state,
        context,
        status: states.get(state as string)?.final ? 'done' : 'active',
      }) as unknown as Snapshot,
    step(snapshot, type, data) {
      const before = snapshot as unknown as CompiledSnapshot
      if (before.status !== 'active') return refusedStep(snapshot)
      const event = toMachineEvent(snapshot, type, data)
      if (event === null) return refusedStep(snapshot)
      const state = states.get(before.value)
      if (state === undefined) throw new Error(`state ${before.value} is not a state of ${machine.id}`)
      const t =
        select(state.transitions, before.context, event) ?? select(root.transitions, before.context, event)
      if (t === undefined) return refusedStep(snapshot)
      const effects: Effect[] = []
      const timers: TimerChange[] = []
      let context = before.context
      let value = before.value
      let status: CompiledSnapshot['status'] = 'active'
      const target = t.target?.[0]
      if (target === undefined) {
        context = run(t.actions, context, event, effects, timers)
      } else {
        const next = states.get(target.key) as Compiled
        context = run(state.exit, context, event, effects, timers)
        context = run(t.actions, context, event, effects, timers)
        context = run(next.entry, context, event, effects, timers)
        value = target.key
        if (next.final) {
          status = 'done'
          context = run(next.exit, context, event, effects, timers)
        }
      }
      const after: CompiledSnapshot = { value, context, status }
      return {
        accepted: true,
        before: snapshot,
        after: after as unknown as Snapshot,
        effects,
        timers,
        firedTimerId: delayOfFact.has(type) ? event.type : null,
      }
    },
  }
  return { folder }
}
