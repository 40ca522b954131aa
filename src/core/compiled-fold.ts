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
  type Replayed,
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
  afterByDelay: Map<unknown, string>
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
      afterByDelay: new Map(node.after.map((t) => [t.delay, t.eventType])),
      final: node.type === 'final',
    })
  }
  const initial: CompiledSnapshot = {
    value: start.value,
    context: start.context as Ctx,
    status: states.get(start.value)?.final ? 'done' : 'active',
  }

  /** A guard as a predicate of context and event. */
  const compileGuard = (guard: unknown): ((context: Ctx, event: Ctx) => boolean) | null => {
    if (guard === undefined) return null
    if (typeof guard === 'function') return (context, event) => Boolean(guard({ context, event }, undefined))
    if (typeof guard === 'string') {
      const check = impl.guards[guard] as Fn
      return (context, event) => Boolean(check({ context, event } as never))
    }
    const g = guard as { type: string; params?: unknown }
    const check = impl.guards[g.type] as Fn
    const params = g.params
    if (typeof params === 'function')
      return (context, event) =>
        Boolean(check({ context, event } as never, params({ context, event }) as never))
    return (context, event) => Boolean(check({ context, event } as never, params as never))
  }

  /** One action, resolved once, as xstate would run it: returns the context it leaves. */
  type Run = (context: Ctx, event: Ctx, effects: Effect[] | null, timers: TimerChange[]) => Ctx
  const compileAction = (action: unknown): Run => {
    const inline = typeof action === 'function'
    const name = typeof action === 'string' ? action : inline ? '' : (action as { type: string }).type
    const resolved = inline ? action : impl.actions[name]
    const declared =
      inline || typeof action === 'string' || !('params' in (action as object))
        ? undefined
        : (action as { params: unknown }).params
    const paramsOf: (context: Ctx, event: Ctx) => unknown =
      typeof declared === 'function'
        ? (context, event) => (declared as Fn)({ context, event } as never)
        : () => declared
    if (!isBuiltin(resolved)) {
      const type = inline ? (action as Fn).name || '(anonymous)' : name
      return (context, event, effects) => {
        if (effects === null) return context
        const params = paramsOf(context, event)
        effects.push(params === undefined ? { type } : { type, params })
        return context
      }
    }
    switch (resolved.type) {
      case 'xstate.assign': {
        const assignment = (resolved as unknown as { assignment: unknown }).assignment
        if (typeof assignment === 'function')
          return (context, event) => ({
            ...context,
            ...(assignment({ context, event }, paramsOf(context, event)) as Ctx),
          })
        const entries = Object.entries(assignment as Ctx)
        return (context, event) => {
          const args = { context, event }
          const params = paramsOf(context, event)
          const partial: Ctx = {}
          for (const [k, v] of entries) partial[k] = typeof v === 'function' ? v(args, params) : v
          return { ...context, ...partial }
        }
      }
      case 'xstate.raise': {
        const r = resolved as unknown as { id: string; delay: unknown }
        const configured = typeof r.delay === 'string' ? impl.delays[r.delay] : r.delay
        const delay = delayNameOf(r.id)
        return (context, event, _effects, timers) => {
          const delayMs =
            typeof configured === 'function'
              ? configured({ context, event }, paramsOf(context, event))
              : configured
          if (typeof delayMs !== 'number')
            throw new Error(`delay ${String(r.delay)} did not give a number of milliseconds`)
          timers.push({ kind: 'armed', timerId: r.id, delay, delayMs })
          return context
        }
      }
      default: {
        const timerId = (resolved as unknown as { sendId: string }).sendId
        return (context, _event, _effects, timers) => {
          timers.push({ kind: 'cancelled', timerId })
          return context
        }
      }
    }
  }

  /** Runs actions in order, as xstate resolves them; returns the context they leave. */
  const run = (
    actions: readonly Run[],
    context: Ctx,
    event: Ctx,
    effects: Effect[] | null,
    timers: TimerChange[],
  ) => {
    let ctx = context
    for (const action of actions) ctx = action(ctx, event, effects, timers)
    return ctx
  }

  interface CompiledTransition {
    guard: ((context: Ctx, event: Ctx) => boolean) | null
    target: string | null
    actions: readonly Run[]
  }
  const compileTransitions = (transitions: Map<string, TransitionDef[]>) =>
    new Map(
      [...transitions].map(([eventType, list]) => [
        eventType,
        list.map(
          (t): CompiledTransition => ({
            guard: compileGuard(t.guard),
            target: t.target?.[0]?.key ?? null,
            actions: t.actions.map(compileAction),
          }),
        ),
      ]),
    )
  const rootTransitions = compileTransitions(root.transitions)
  const runs = new Map<
    string,
    { transitions: Map<string, CompiledTransition[]>; entry: readonly Run[]; exit: readonly Run[] }
  >()
  for (const [key, node] of Object.entries(root.states))
    runs.set(key, {
      transitions: compileTransitions(node.transitions),
      entry: node.entry.map(compileAction),
      exit: node.exit.map(compileAction),
    })

  const select = (transitions: Map<string, CompiledTransition[]>, context: Ctx, event: Ctx) => {
    const candidates = transitions.get(event['type'] as string)
    if (candidates === undefined) return undefined
    for (const t of candidates) if (t.guard === null || t.guard(context, event)) return t
    return undefined
  }

  /** The machine event of a fact: a copy of its data with `type` set, or the data itself when it is owned. */
  const eventOf = (
    snapshot: Snapshot,
    type: string,
    data: Record<string, unknown>,
    owned: boolean,
  ): Ctx | null => {
    const delay = delayOfFact.get(type)
    let eventType = type
    if (delay !== undefined) {
      const after = states.get((snapshot as unknown as CompiledSnapshot).value)?.afterByDelay.get(delay)
      if (after === undefined) return null
      eventType = after
    }
    if (!owned) return { ...data, type: eventType }
    data['type'] = eventType
    return data
  }
  const toMachineEvent = (snapshot: Snapshot, type: string, data: Record<string, unknown>) =>
    eventOf(snapshot, type, data, false) as { type: string } | null

  /** The machine event type of the last fact `advance` took: a timer fact's is its `after` event. */
  let firedBy = ''
  /**
   * Applies a fact: the snapshot after it, or null when the machine does not take it. Effects are
   * collected into `effects` unless it is null; timer changes into `timers`.
   */
  const advance = (
    snapshot: Snapshot,
    type: string,
    data: Record<string, unknown>,
    owned: boolean,
    effects: Effect[] | null,
    timers: TimerChange[],
  ): CompiledSnapshot | null => {
    const before = snapshot as unknown as CompiledSnapshot
    if (before.status !== 'active') return null
    const event = eventOf(snapshot, type, data, owned)
    if (event === null) return null
    const state = runs.get(before.value)
    if (state === undefined) throw new Error(`state ${before.value} is not a state of ${machine.id}`)
    const t =
      select(state.transitions, before.context, event) ?? select(rootTransitions, before.context, event)
    if (t === undefined) return null
    let context = before.context
    let value = before.value
    let status: CompiledSnapshot['status'] = 'active'
    if (t.target === null) {
      context = run(t.actions, context, event, effects, timers)
    } else {
      const next = runs.get(t.target) as NonNullable<ReturnType<typeof runs.get>>
      context = run(state.exit, context, event, effects, timers)
      context = run(t.actions, context, event, effects, timers)
      context = run(next.entry, context, event, effects, timers)
      value = t.target
      if ((states.get(t.target) as Compiled).final) {
        status = 'done'
        context = run(next.exit, context, event, effects, timers)
      }
    }
    firedBy = event['type'] as string
    return { value, context, status }
  }
  const replayTimers: TimerChange[] = []
  const replayed: Replayed = {
    accepted: false,
    after: initial as unknown as Snapshot,
    timers: replayTimers,
    firedTimerId: null,
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
    step(snapshot, type, data, owned = false) {
      const effects: Effect[] = []
      const timers: TimerChange[] = []
      const after = advance(snapshot, type, data, owned, effects, timers)
      if (after === null) return refusedStep(snapshot)
      return {
        accepted: true,
        before: snapshot,
        after: after as unknown as Snapshot,
        effects,
        timers,
        firedTimerId: delayOfFact.has(type) ? firedBy : null,
      }
    },
    replay(snapshot, type, data) {
      replayTimers.length = 0
      const after = advance(snapshot, type, data, true, null, replayTimers)
      replayed.accepted = after !== null
      replayed.after = (after ?? snapshot) as unknown as Snapshot
      replayed.firedTimerId = after !== null && delayOfFact.has(type) ? firedBy : null
      return replayed
    },
  }
  return { folder }
}
