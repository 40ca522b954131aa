import { describe, expect, it } from 'vitest'
import type { QueueEventType } from '../../machines/queue-events.ts'
import { defaultQueueConfig } from '../../machines/queue-machine.ts'
import { aggregates } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import { stateLabel } from '../../src/core/fold.ts'
import { at, queue as q, T0 } from '../support/facts.ts'
import { foldFacts, given } from '../support/given.ts'

const agg = aggregates.queue

const running = 'flow.running+pace.normal'
const paused = 'flow.paused+pace.normal'
const cooling = 'flow.running+pace.cooling'
const pausedCooling = 'flow.paused+pace.cooling'

/** A cooldown started `offset` ms after T0 (the shared builder always uses T0). */
const cooldownStarted = (offset: number): Fact => ({
  type: 'QueueCooldownStarted',
  data: { reason: 'RATE_LIMITED', at: at(offset) },
})

describe('queueMachine: flow', () => {
  it('starts running at normal pace', () => {
    expect(stateLabel(agg.folder.initial.value)).toBe(running)
    expect(agg.folder.initial.context).toMatchObject({ config: defaultQueueConfig, cooldownUntilMs: null })
  })

  it('pauses a running queue', () => {
    given(agg)
      .when(q.paused())
      .then({ state: paused, effects: [], armed: [], context: { updatedAtMs: T0 } })
  })

  it('resumes a paused queue and wakes the dispatcher', () => {
    given(agg, q.paused())
      .when(q.resumed())
      .then({ state: running, effects: ['wakeDispatcher'], armed: [] })
  })

  it('refuses a pause while paused', () => {
    given(agg, q.paused()).when(q.paused()).refused()
  })

  it('refuses a resume while running', () => {
    given(agg).when(q.resumed()).refused()
  })

  it('merges a config change into the config and wakes the dispatcher', () => {
    given(agg, q.configured({ concurrency: 1 }))
      .when(q.configured({ sendIntervalMs: 1_500, onInterrupted: 'fail' }))
      .then({
        state: running,
        effects: ['wakeDispatcher'],
        context: {
          config: { ...defaultQueueConfig, concurrency: 1, sendIntervalMs: 1_500, onInterrupted: 'fail' },
        },
      })
  })
})

describe('queueMachine: pace', () => {
  it('cools down for rateLimitCooldownMs after a rate limit, with the cooldown timer armed', () => {
    const step = given(agg)
      .when(cooldownStarted(250))
      .then({
        state: cooling,
        effects: [],
        armed: ['cooldown'],
        context: { cooldownUntilMs: T0 + 250 + 60_000, updatedAtMs: T0 + 250 },
      })
    const armed = step.timers.find((t) => t.kind === 'armed')
    expect(armed?.kind === 'armed' && armed.delayMs).toBe(60_000)
  })

  it('uses the configured cooldown length', () => {
    const step = given(agg, q.configured({ rateLimitCooldownMs: 5_000 }))
      .when(cooldownStarted(0))
      .then({ state: cooling, context: { cooldownUntilMs: T0 + 5_000 } })
    const armed = step.timers.find((t) => t.kind === 'armed')
    expect(armed?.kind === 'armed' && armed.delayMs).toBe(5_000)
  })

  it('returns to normal pace when the cooldown ends and wakes the dispatcher', () => {
    const step = given(agg, q.cooldownStarted())
      .when(q.cooldownEnded({ at: at(60_000) }))
      .then({
        state: running,
        effects: ['wakeDispatcher'],
        context: { cooldownUntilMs: null, updatedAtMs: T0 + 60_000 },
      })
    expect(step.firedTimerId).toContain('cooldown')
  })

  it('keeps the pace independent of the flow: a paused queue cools down and recovers', () => {
    given(agg, q.paused())
      .when(q.cooldownStarted())
      .then({ state: pausedCooling, armed: ['cooldown'] })
    given(agg, q.paused(), q.cooldownStarted()).when(q.cooldownEnded()).then({ state: paused })
    given(agg, q.cooldownStarted()).when(q.paused()).then({ state: pausedCooling, armed: [], cancelled: [] })
  })

  it('refuses a second cooldown while cooling', () => {
    given(agg, q.cooldownStarted()).when(q.cooldownStarted()).refused()
  })

  it('refuses a cooldown end at normal pace', () => {
    given(agg).when(q.cooldownEnded()).refused()
  })
})

describe('queueMachine: retention', () => {
  it('records an archive in any state without moving or touching timers', () => {
    for (const [state, facts] of [
      [running, []],
      [pausedCooling, [q.paused(), q.cooldownStarted()]],
    ] as const) {
      given(agg, ...facts)
        .when(q.jobsArchived())
        .then({ state, effects: [], armed: [], cancelled: [] })
    }
  })
})

describe('queueMachine: clear', () => {
  it.each([
    [running, []],
    [paused, [q.paused()]],
    [cooling, [q.cooldownStarted()]],
    [pausedCooling, [q.paused(), q.cooldownStarted()]],
  ])('always takes a clear (%s) without moving or touching timers', (state, facts) => {
    given(agg, ...facts)
      .when(q.cleared(4))
      .then({ state, effects: [], armed: [], cancelled: [] })
  })
})

// The refusal matrix: every fact type each combination of flow and pace must refuse.
const factOf: Record<QueueEventType, () => Fact> = {
  QueueConfigured: () => q.configured({ concurrency: 2 }),
  QueuePaused: q.paused,
  QueueResumed: q.resumed,
  QueueCleared: () => q.cleared(),
  QueueJobsArchived: q.jobsArchived,
  QueueCooldownStarted: q.cooldownStarted,
  QueueCooldownEnded: () => q.cooldownEnded(),
}
const matrix: [string, Fact[], QueueEventType[]][] = [
  [running, [], ['QueueResumed', 'QueueCooldownEnded']],
  [paused, [q.paused()], ['QueuePaused', 'QueueCooldownEnded']],
  [cooling, [q.cooldownStarted()], ['QueueResumed', 'QueueCooldownStarted']],
  [pausedCooling, [q.paused(), q.cooldownStarted()], ['QueuePaused', 'QueueCooldownStarted']],
]

describe('queueMachine: refusals', () => {
  it.each(matrix.map(([state, facts]) => [state, facts] as const))(
    'reaches %s from its facts',
    (state, facts) => {
      expect(stateLabel(foldFacts(agg, facts).value)).toBe(state)
    },
  )

  it.each(matrix.flatMap(([state, facts, refuses]) => refuses.map((type) => [type, state, facts] as const)))(
    'refuses %s while %s',
    (type, _state, facts) => {
      given(agg, ...facts)
        .when(factOf[type]())
        .refused()
    },
  )

  const types = Object.keys(factOf) as QueueEventType[]
  it.each(
    matrix.flatMap(([state, facts, refuses]) =>
      types.filter((t) => !refuses.includes(t)).map((type) => [type, state, facts] as const),
    ),
  )('takes %s while %s (the complement of the refusals)', (type, _state, facts) => {
    expect(agg.folder.step(foldFacts(agg, facts), type, factOf[type]().data).accepted).toBe(true)
  })
})
