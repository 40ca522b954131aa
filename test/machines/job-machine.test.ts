import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../machines/backoff.ts'
import { JOB_EVENT_TYPES, type JobEventType } from '../../machines/job-events.ts'
import { aggregates } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import type { Step } from '../../src/core/fold.ts'
import { at, job, T0 } from '../support/facts.ts'
import { foldFacts, given } from '../support/given.ts'

const agg = aggregates.job

/** The timer a step armed for `delay`, with its id and length. */
const armedTimer = (step: Step, delay: string) => {
  const found = step.timers.find((t) => t.kind === 'armed' && t.delay === delay)
  return found?.kind === 'armed' ? found : undefined
}

/** Queued, then `n − 1` retryable failures each followed by its due timer, then attempt `n` started. */
const activeOnAttempt = (n: number, queued: Fact = job.queued()): Fact[] => {
  const facts = [queued]
  for (let a = 1; a < n; a++) facts.push(job.started(a), job.failed(a, { retryable: true }), job.due())
  facts.push(job.started(n))
  return facts
}

const retryable = { retryable: true }
const permanent = { retryable: false }

describe('jobMachine: queueing', () => {
  it('puts a job without sendAt in waiting and wakes the dispatcher', () => {
    given(agg)
      .when(job.queued({ at: at(5) }))
      .then({
        state: 'waiting',
        effects: ['wakeDispatcher'],
        armed: [],
        context: {
          jobId: '01JTEST0000000000000000001',
          attempts: 0,
          createdAtMs: T0 + 5,
          updatedAtMs: T0 + 5,
        },
      })
  })

  it('holds a job scheduled for later in delayed, armed for exactly sendAt − at', () => {
    const step = given(agg)
      .when(job.queued({ at: at(1_000), sendAt: at(91_000) }))
      .then({
        state: 'delayed',
        effects: [],
        armed: ['untilDue'],
        context: { sendAtMs: T0 + 91_000, nextAttemptAtMs: T0 + 91_000, delayMs: 90_000 },
      })
    expect(armedTimer(step, 'untilDue')?.delayMs).toBe(90_000)
  })

  it.each([
    ['in the past', -60_000],
    ['equal to the queueing instant', 0],
  ])('puts a job whose sendAt is %s straight in waiting', (_label, offset) => {
    given(agg)
      .when(job.queued({ sendAt: at(offset) }))
      .then({ state: 'waiting', effects: ['wakeDispatcher'], armed: [], context: { sendAtMs: T0 + offset } })
  })

  it('moves a scheduled job to waiting when its due timer fires', () => {
    const queued = given(agg).when(job.queued({ sendAt: at(30_000) })).step
    const armedId = armedTimer(queued, 'untilDue')?.timerId
    const step = given(agg, job.queued({ sendAt: at(30_000) }))
      .when(job.due({ dueAt: at(30_000), at: at(30_001) }))
      .then({
        state: 'waiting',
        effects: ['wakeDispatcher'],
        context: { nextAttemptAtMs: null, delayMs: 0, updatedAtMs: T0 + 30_001 },
      })
    expect(step.firedTimerId).toBe(armedId)
    expect(step.firedTimerId).not.toBeNull()
  })
})

describe('jobMachine: attempts', () => {
  it('starts attempt 1 from waiting and asks for the message to be sent', () => {
    given(agg, job.queued())
      .when(job.started(1, { at: at(10) }))
      .then({ state: 'active', effects: ['sendMessage'], context: { attempts: 1, updatedAtMs: T0 + 10 } })
  })

  it.each([2, 3, 5])('refuses attempt %i when attempt 1 is next', (attempt) => {
    given(agg, job.queued()).when(job.started(attempt)).refused()
  })

  it('refuses replaying the same attempt after it was interrupted and takes the next one', () => {
    const facts = [job.queued(), job.started(1), job.interrupted(1, true)]
    given(agg, ...facts)
      .when(job.started(1))
      .refused()
    given(agg, ...facts)
      .when(job.started(2))
      .then({ state: 'active', context: { attempts: 2 } })
  })

  it('completes on a send of the current attempt and reports it', () => {
    given(agg, ...activeOnAttempt(2))
      .when(job.sent(2, { messageId: 'wamid-7' }))
      .then({
        state: 'completed',
        effects: ['reportCompleted'],
        context: { messageId: 'wamid-7', lastError: null, attempts: 2 },
      })
  })

  it.each([
    ['a send', job.sent(1)],
    ['a retryable failure', job.failed(1, retryable)],
    ['a permanent failure', job.failed(1, permanent)],
    ['a rate limit', job.rateLimited(1)],
    ['a withdrawn attempt', job.withdrawn(1)],
    ['an interruption with retry', job.interrupted(1, true)],
    ['an interruption without retry', job.interrupted(1, false)],
    ['a send for a later attempt', job.sent(3)],
  ])('refuses %s reported for another attempt while active', (_label, fact) => {
    given(agg, ...activeOnAttempt(2))
      .when(fact)
      .refused()
  })
})

describe('jobMachine: failures and backoff', () => {
  it.each([
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [4, 16_000],
  ])('backs off retryable failure of attempt %i by %i ms at jitter 0.5', (attempt, delay) => {
    const step = given(agg, ...activeOnAttempt(attempt))
      .when(job.failed(attempt, retryable, { at: at(1_000) }))
      .then({
        state: 'delayed',
        effects: [],
        armed: ['untilDue'],
        context: { attempts: attempt, delayMs: delay, nextAttemptAtMs: T0 + 1_000 + delay },
      })
    expect(armedTimer(step, 'untilDue')?.delayMs).toBe(delay)
  })

  it.each([
    [1, 0, 1_600],
    [1, 1, 2_400],
    [3, 0, 6_400],
    [3, 1, 9_600],
    [2, 0.25, 3_600],
  ])('moves the attempt %i backoff with jitter %d to %i ms', (attempt, jitter, delay) => {
    given(agg, ...activeOnAttempt(attempt))
      .when(job.failed(attempt, retryable, { jitter }))
      .then({ state: 'delayed', context: { delayMs: delay } })
  })

  it('keeps any jittered backoff within ±20 % of the exponential delay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, jitter) => {
        const step = given(agg, ...activeOnAttempt(n)).when(job.failed(n, retryable, { jitter })).step
        const raw = 2_000 * 2 ** (n - 1)
        const delayMs = step.after.context.delayMs as number
        expect(delayMs).toBeGreaterThanOrEqual(Math.round(raw * 0.8))
        expect(delayMs).toBeLessThanOrEqual(Math.round(raw * 1.2))
      }),
    )
  })

  it.each([
    [3, 0.5, 5_000],
    [3, 0, 5_000],
    [4, 0, 5_000],
  ])('caps the attempt %i backoff at jitter %d by backoffMaxMs (%i ms)', (attempt, jitter, delay) => {
    const step = given(agg, ...activeOnAttempt(attempt, job.queued({ backoffMaxMs: 5_000 })))
      .when(job.failed(attempt, retryable, { jitter }))
      .then({ state: 'delayed', context: { delayMs: delay } })
    expect(armedTimer(step, 'untilDue')?.delayMs).toBe(delay)
    expect(delay).toBe(backoffDelay({ baseMs: 2_000, maxMs: 5_000 }, attempt, jitter))
  })

  it('fails a retryable failure on the last attempt and reports it', () => {
    given(agg, ...activeOnAttempt(3, job.queued({ maxAttempts: 3 })))
      .when(job.failed(3, retryable))
      .then({
        state: 'failed',
        effects: ['reportFailed'],
        armed: [],
        context: {
          attempts: 3,
          nextAttemptAtMs: null,
          lastError: { code: 'NETWORK_TIMEOUT', retryable: true },
        },
      })
  })

  it('fails a non-retryable failure at once, on the first attempt', () => {
    given(agg, job.queued(), job.started(1))
      .when(job.failed(1, permanent))
      .then({
        state: 'failed',
        effects: ['reportFailed'],
        armed: [],
        context: { attempts: 1, lastError: { code: 'NOT_REGISTERED', retryable: false } },
      })
  })

  it.each([
    ['a rate limit', job.rateLimited],
    ['a send withdrawn before the engine was called', job.withdrawn],
  ])('gives the attempt back on %s and waits again, with no error and no backoff', (_label, given_) => {
    given(agg, ...activeOnAttempt(2))
      .when(given_(2, { at: at(7) }))
      .then({
        state: 'waiting',
        effects: ['wakeDispatcher'],
        armed: [],
        context: { attempts: 1, updatedAtMs: T0 + 7, nextAttemptAtMs: null },
      })
    given(agg, ...activeOnAttempt(2), given_(2))
      .when(job.started(2))
      .then({ state: 'active', context: { attempts: 2 } })
  })

  it('waits again with duplicateRisk when an interrupted attempt may be retried', () => {
    given(agg, job.queued(), job.started(1))
      .when(job.interrupted(1, true))
      .then({
        state: 'waiting',
        effects: ['wakeDispatcher'],
        context: { attempts: 1, duplicateRisk: true, lastError: { code: 'INTERRUPTED', retryable: true } },
      })
  })

  it('fails with duplicateRisk when an interrupted attempt may not be retried', () => {
    given(agg, job.queued(), job.started(1))
      .when(job.interrupted(1, false))
      .then({
        state: 'failed',
        effects: ['reportFailed'],
        context: { duplicateRisk: true, lastError: { code: 'INTERRUPTED', retryable: false } },
      })
  })

  it('fails an interrupted last attempt even when retry is asked for', () => {
    given(agg, job.queued({ maxAttempts: 1 }), job.started(1))
      .when(job.interrupted(1, true))
      .then({ state: 'failed', effects: ['reportFailed'], context: { duplicateRisk: true } })
  })
})

describe('jobMachine: cancel and manual retry', () => {
  it('cancels a waiting job without touching timers', () => {
    given(agg, job.queued())
      .when(job.cancelled({ at: at(3) }))
      .then({ state: 'cancelled', effects: [], armed: [], cancelled: [], context: { updatedAtMs: T0 + 3 } })
  })

  it.each([
    ['a scheduled job', [job.queued({ sendAt: at(60_000) })]],
    ['a job backing off', [job.queued(), job.started(1), job.failed(1, retryable)]],
  ])('cancels %s in delayed and cancels its untilDue timer', (_label, facts) => {
    given(agg, ...facts)
      .when(job.cancelled())
      .then({ state: 'cancelled', effects: [], cancelled: ['untilDue'], context: { nextAttemptAtMs: null } })
  })

  it('retries a failed job by hand: attempts reset, manualRetries counted, dispatcher woken', () => {
    const failedOnce = [job.queued(), job.started(1), job.failed(1, permanent)]
    given(agg, ...failedOnce)
      .when(job.retryRequested({ at: at(99) }))
      .then({
        state: 'waiting',
        effects: ['wakeDispatcher'],
        context: { attempts: 0, manualRetries: 1, nextAttemptAtMs: null, updatedAtMs: T0 + 99 },
      })
    given(agg, ...failedOnce, job.retryRequested(), job.started(1), job.failed(1, permanent))
      .when(job.retryRequested())
      .then({ state: 'waiting', context: { attempts: 0, manualRetries: 2 } })
  })

  it.each([
    ['completed', [job.queued(), job.started(1), job.sent(1)]],
    ['cancelled', [job.queued(), job.cancelled()]],
  ])('treats %s as a final state', (_label, facts) => {
    expect(foldFacts(agg, facts).status).toBe('done')
  })
})

// The refusal matrix: each state, with the facts that lead to it and every fact type it must refuse.
// Refused facts carry plausible attempt numbers (the next or current one), so only the state refuses them.
const factOf = (type: JobEventType, attempts: number): Fact => {
  const current = Math.max(attempts, 1)
  const build: Record<JobEventType, () => Fact> = {
    JobQueued: () => job.queued(),
    JobAttemptStarted: () => job.started(attempts + 1),
    JobSent: () => job.sent(current),
    JobAttemptFailed: () => job.failed(current, retryable),
    JobRateLimited: () => job.rateLimited(current),
    JobAttemptWithdrawn: () => job.withdrawn(current),
    JobAttemptInterrupted: () => job.interrupted(current, true),
    JobDue: () => job.due(),
    JobCancelled: () => job.cancelled(),
    JobRetryRequested: () => job.retryRequested(),
  }
  return build[type]()
}

const ALL: JobEventType[] = [...JOB_EVENT_TYPES]
const except = (...taken: JobEventType[]) => ALL.filter((t) => !taken.includes(t))

const states: { state: string; facts: Fact[]; attempts: number; refuses: JobEventType[] }[] = [
  { state: 'initial', facts: [], attempts: 0, refuses: except('JobQueued') },
  {
    state: 'waiting',
    facts: [job.queued(), job.started(1), job.interrupted(1, true)],
    attempts: 1,
    refuses: except('JobAttemptStarted', 'JobCancelled'),
  },
  {
    state: 'active',
    facts: [job.queued(), job.started(1)],
    attempts: 1,
    refuses: ['JobQueued', 'JobAttemptStarted', 'JobDue', 'JobCancelled', 'JobRetryRequested'],
  },
  {
    state: 'delayed',
    facts: [job.queued(), job.started(1), job.failed(1, retryable)],
    attempts: 1,
    refuses: except('JobDue', 'JobCancelled'),
  },
  { state: 'completed', facts: [job.queued(), job.started(1), job.sent(1)], attempts: 1, refuses: ALL },
  {
    state: 'failed',
    facts: [job.queued(), job.started(1), job.failed(1, permanent)],
    attempts: 1,
    refuses: except('JobRetryRequested'),
  },
  { state: 'cancelled', facts: [job.queued(), job.cancelled()], attempts: 0, refuses: ALL },
]

describe('jobMachine: refusals', () => {
  it('covers every fact type of the stream', () => {
    expect([...ALL].sort()).toEqual([...agg.eventTypes].sort())
  })

  it.each(states.map((s) => [s.state, s] as const))('reaches %s from its facts', (name, s) => {
    expect(foldFacts(agg, s.facts).value).toBe(name)
  })

  it.each(states.flatMap((s) => s.refuses.map((type) => [type, s.state, s] as const)))(
    'refuses %s while %s',
    (type, _name, s) => {
      given(agg, ...s.facts)
        .when(factOf(type, s.attempts))
        .refused()
    },
  )

  it.each(states.flatMap((s) => except(...s.refuses).map((type) => [type, s.state, s] as const)))(
    'takes %s while %s (the complement of the refusals)',
    (type, _name, s) => {
      expect(agg.folder.step(foldFacts(agg, s.facts), type, factOf(type, s.attempts).data).accepted).toBe(
        true,
      )
    },
  )
})
