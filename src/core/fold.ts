// Folds facts through a machine without running anything: the next snapshot, the effects the machine
// asked for, and the timers it armed or cancelled. One reusable actor scope per machine keeps a step at
// a few microseconds (xstate's `transition()` builds a new actor per call).
import { type AnyMachineSnapshot, type AnyStateMachine, createActor } from 'xstate'

export type Snapshot = AnyMachineSnapshot

/** An effect the machine asked for (a named action), for src/runtime to perform after commit. */
export interface Effect {
  type: string
  params?: unknown
}

export type TimerChange =
  | { kind: 'armed'; timerId: string; delay: string; delayMs: number }
  | { kind: 'cancelled'; timerId: string }

export interface Step {
  accepted: boolean
  before: Snapshot
  after: Snapshot
  effects: Effect[]
  timers: TimerChange[]
  /** The timer that fired, when the fact was a timer fact. */
  firedTimerId: string | null
}

/** What `Folder.replay` gives: a step without its effects. */
export interface Replayed {
  accepted: boolean
  after: Snapshot
  timers: readonly TimerChange[]
  firedTimerId: string | null
}

export interface Folder {
  readonly machine: AnyStateMachine
  readonly initial: Snapshot
  /**
   * Applies one fact; a fact the machine does not take gives `accepted: false` and the same snapshot.
   * `owned`: the caller gives `data` away (a rebuild's freshly parsed event), so the step may turn it into
   * the machine event in place instead of copying it.
   */
  step(snapshot: Snapshot, type: string, data: Record<string, unknown>, owned?: boolean): Step
  /**
   * A step as a rebuild needs it, when the folder can take it faster that way: no effects, `data` is given
   * away, and the result (with its `timers`) is only good until the next call.
   */
  replay?(snapshot: Snapshot, type: string, data: Record<string, unknown>): Replayed
  /** The snapshot stored in a projection row, back as a machine snapshot. */
  restore(state: unknown, context: unknown): Snapshot
  /** The xstate event a fact becomes, or null when no active state has that timer armed. */
  toMachineEvent(snapshot: Snapshot, type: string, data: Record<string, unknown>): { type: string } | null
}

type ExecutableAction = { type: string; params?: unknown }
type StateNodeLike = { after?: { eventType: string; delay?: unknown }[] }

const AFTER_PREFIX = 'xstate.after.'

/** The step of a fact the machine does not take: nothing changes. */
export const refusedStep = (snapshot: Snapshot): Step => ({
  accepted: false,
  before: snapshot,
  after: snapshot,
  effects: [],
  timers: [],
  firedTimerId: null,
})

/** `xstate.after.<delay>.<state id>` → `<delay>`. */
export const delayNameOf = (timerId: string): string => {
  if (!timerId.startsWith(AFTER_PREFIX)) return timerId
  const rest = timerId.slice(AFTER_PREFIX.length)
  const dot = rest.indexOf('.')
  return dot < 0 ? rest : rest.slice(0, dot)
}

/**
 * @param timerFacts for each delay the machine declares, the fact appended when its timer fires
 *
 * @example
 * const folder = createFolder(jobMachine, { untilDue: 'JobDue' })
 * const step = folder.step(folder.initial, 'JobQueued', data)
 */
export const createFolder = (machine: AnyStateMachine, timerFacts: Record<string, string>): Folder => {
  const delayOfFact = new Map(Object.entries(timerFacts).map(([delay, fact]) => [fact, delay]))
  const captured: ExecutableAction[] = []
  const self = createActor(machine)
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: ExecutableAction) => {
      captured.push(action)
    },
  }
  // biome-ignore lint/suspicious/noExplicitAny: xstate's ActorScope type is internal; this one is complete
  const anyScope = scope as any
  const initial = machine.getInitialSnapshot(anyScope) as Snapshot
  captured.length = 0

  const toMachineEvent = (snapshot: Snapshot, type: string, data: Record<string, unknown>) => {
    const delay = delayOfFact.get(type)
    if (delay === undefined) return { ...data, type }
    for (const node of snapshot._nodes as StateNodeLike[]) {
      for (const t of node.after ?? []) {
        if (t.delay === delay) return { ...data, type: t.eventType }
      }
    }
    return null
  }

  return {
    machine,
    initial,
    toMachineEvent,
    restore: (state, context) =>
      machine.resolveState({ value: state as never, context: context as never }) as Snapshot,
    step(snapshot, type, data) {
      const event = toMachineEvent(snapshot, type, data)
      if (event === null) return refusedStep(snapshot)
      captured.length = 0
      const after = machine.transition(snapshot, event as never, anyScope) as Snapshot
      if (after.status === 'error') throw after.error
      const accepted = after !== snapshot
      const effects: Effect[] = []
      const timers: TimerChange[] = []
      for (const a of captured) {
        if (a.type === 'xstate.raise') {
          const p = a.params as { id?: string; delay?: unknown }
          if (typeof p.delay === 'number' && p.id) {
            timers.push({ kind: 'armed', timerId: p.id, delay: delayNameOf(p.id), delayMs: p.delay })
          }
        } else if (a.type === 'xstate.cancel') {
          const p = a.params as { sendId: string }
          timers.push({ kind: 'cancelled', timerId: p.sendId })
        } else if (!a.type.startsWith('xstate.')) {
          effects.push(a.params === undefined ? { type: a.type } : { type: a.type, params: a.params })
        }
      }
      captured.length = 0
      return {
        accepted,
        before: snapshot,
        after,
        effects,
        timers,
        firedTimerId: accepted && delayOfFact.has(type) ? event.type : null,
      }
    },
  }
}

/** The state value as a flat label: `ready.probing`, or `flow.running+pace.normal` for parallel ones. */
export const stateLabel = (value: unknown): string => {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateLabel(v)
        return inner ? `${k}.${inner}` : k
      })
      .join('+')
  }
  return ''
}
