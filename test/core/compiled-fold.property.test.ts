import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jobMachine } from '../../machines/job-machine.ts'
import { queueMachine } from '../../machines/queue-machine.ts'
import { sessionMachine } from '../../machines/session-machine.ts'
import { aggregates } from '../../src/core/aggregates.ts'
import { compileFolder } from '../../src/core/compiled-fold.ts'
import { createFolder, type Folder, type Snapshot } from '../../src/core/fold.ts'
import { at, job } from '../support/facts.ts'

const xstateFolder = createFolder(jobMachine, { untilDue: 'JobDue' })
const compiledOrReason = compileFolder(jobMachine, { untilDue: 'JobDue' })
const compiled = (): Folder => {
  if (!('folder' in compiledOrReason)) throw new Error(`job machine not compiled: ${compiledOrReason.reason}`)
  return compiledOrReason.folder
}

/** Any job fact, valid for the current state or not, with attempts near the plausible ones. */
const anyJobFact = fc
  .record({
    kind: fc.constantFrom(
      'queue',
      'queueLater',
      'start',
      'send',
      'fail',
      'rateLimit',
      'withdraw',
      'interrupt',
      'due',
      'cancel',
      'retry',
    ),
    attempt: fc.integer({ min: 0, max: 6 }),
    retryable: fc.boolean(),
    retry: fc.boolean(),
    jitter: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    offsetMs: fc.integer({ min: 0, max: 3_600_000 }),
    maxAttempts: fc.integer({ min: 1, max: 6 }),
  })
  .map((f) => {
    const o = { at: at(f.offsetMs) }
    switch (f.kind) {
      case 'queue':
        return job.queued({ ...o, maxAttempts: f.maxAttempts })
      case 'queueLater':
        return job.queued({ ...o, sendAt: at(f.offsetMs + 60_000), maxAttempts: f.maxAttempts })
      case 'start':
        return job.started(f.attempt, o)
      case 'send':
        return job.sent(f.attempt, o)
      case 'fail':
        return job.failed(f.attempt, { retryable: f.retryable }, { ...o, jitter: f.jitter })
      case 'rateLimit':
        return job.rateLimited(f.attempt, o)
      case 'withdraw':
        return job.withdrawn(f.attempt, o)
      case 'interrupt':
        return job.interrupted(f.attempt, f.retry, o)
      case 'due':
        return job.due(o)
      case 'cancel':
        return job.cancelled(o)
      default:
        return job.retryRequested(o)
    }
  })

/** A history that mostly follows the happy and retry paths, so that every state is reached often. */
const plausibleHistory = fc
  .array(
    fc.record({ fail: fc.boolean(), retryable: fc.boolean(), jitter: fc.double({ min: 0, max: 0.99 }) }),
    {
      maxLength: 6,
    },
  )
  .map((attempts) => {
    const facts = [job.queued({ maxAttempts: 4 })]
    attempts.forEach((a, i) => {
      facts.push(job.started(i + 1))
      if (!a.fail) facts.push(job.sent(i + 1))
      else facts.push(job.failed(i + 1, { retryable: a.retryable }, { jitter: a.jitter }), job.due())
    })
    return facts
  })

const comparable = (s: Snapshot) => ({ value: s.value, context: s.context, status: s.status })

const foldBoth = (facts: { type: string; data: Record<string, unknown> }[]) => {
  let a = xstateFolder.initial
  let b = compiled().initial
  // The same, with each fact's data given away to the step, and through replay (as a rebuild does).
  let c = compiled().initial
  let d = compiled().initial
  expect(comparable(b)).toEqual(comparable(a))
  for (const f of facts) {
    const sa = xstateFolder.step(a, f.type, f.data)
    const sb = compiled().step(b, f.type, f.data)
    const sc = compiled().step(c, f.type, structuredClone(f.data), true)
    for (const s of [sb, sc]) {
      expect({ fact: f.type, accepted: s.accepted }).toEqual({ fact: f.type, accepted: sa.accepted })
      expect(comparable(s.after)).toEqual(comparable(sa.after))
      expect(s.effects).toEqual(sa.effects)
      expect(s.timers).toEqual(sa.timers)
      expect(s.firedTimerId).toEqual(sa.firedTimerId)
    }
    const replay = compiled().replay
    if (!replay) throw new Error('the compiled folder replays')
    const sd = replay(d, f.type, structuredClone(f.data))
    expect({ fact: f.type, accepted: sd.accepted }).toEqual({ fact: f.type, accepted: sa.accepted })
    expect(comparable(sd.after)).toEqual(comparable(sa.after))
    expect([...sd.timers]).toEqual(sa.timers)
    expect(sd.firedTimerId).toEqual(sa.firedTimerId)
    a = sa.after
    b = sb.after
    c = sc.after
    d = sd.after
  }
}

describe('compiled job folder', () => {
  it('compiles the job machine', () => {
    expect('folder' in compiledOrReason).toBe(true)
  })

  it('takes and refuses exactly the facts xstate does, with the same snapshot, effects and timers', () => {
    fc.assert(
      fc.property(fc.array(anyJobFact, { maxLength: 30 }), (facts) => foldBoth(facts)),
      { numRuns: 400 },
    )
  })

  it('agrees with xstate along plausible histories (retries, backoff, terminal states)', () => {
    fc.assert(
      fc.property(plausibleHistory, fc.array(anyJobFact, { maxLength: 5 }), (history, tail) =>
        foldBoth([...history, ...tail]),
      ),
      { numRuns: 300 },
    )
  })

  it('is what rebuild uses for job streams, and xstate folds the others', () => {
    expect(aggregates.job.rebuildFolder).not.toBe(aggregates.job.folder)
    expect(aggregates.session.rebuildFolder).toBe(aggregates.session.folder)
    expect(aggregates.queue.rebuildFolder).toBe(aggregates.queue.folder)
  })

  it('leaves machines outside its subset to xstate, and says why', () => {
    expect(compileFolder(sessionMachine, {})).toEqual({
      reason: expect.stringMatching(/reentering|compound/),
    })
    expect(compileFolder(queueMachine, {})).toEqual({ reason: 'the root is not a compound state' })
  })
})
