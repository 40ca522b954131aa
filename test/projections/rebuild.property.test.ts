import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { aggregateOf, streamIds } from '../../src/core/aggregates.ts'
import type { Fact } from '../../src/core/command-handler.ts'
import { foldStream, loadStream } from '../../src/core/load-stream.ts'
import { IllegalStateError } from '../../src/errors.ts'
import { PROJECTION_TABLES, rebuildProjections } from '../../src/projections/rebuild.ts'
import { verifyProjections } from '../../src/projections/verify.ts'
import { createTimerScheduler } from '../../src/runtime/timer-scheduler.ts'
import { iso, T0 } from '../support/facts.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const JOBS = ['01JPROP000000000000000000A', '01JPROP000000000000000000B', '01JPROP000000000000000000C']
const SESSIONS = ['default', 'shop']

/** A command: which stream, and how to build its fact from the current attempt count and the clock. */
const jobCommand = fc.record({
  job: fc.constantFrom(...JOBS),
  kind: fc.constantFrom(
    'queue',
    'start',
    'send',
    'fail',
    'rateLimit',
    'withdraw',
    'interrupt',
    'cancel',
    'retry',
  ),
  retryable: fc.boolean(),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  sendAfterMs: fc.option(fc.integer({ min: -5_000, max: 120_000 }), { nil: null }),
  priority: fc.constantFrom('high', 'normal', 'low'),
})
const sessionCommand = fc.record({
  session: fc.constantFrom(...SESSIONS),
  kind: fc.constantFrom(
    'create',
    'start',
    'stop',
    'reset',
    'logout',
    'qr',
    'auth',
    'ready',
    'probeOk',
    'probeFail',
    'disconnect',
    'logoutByPhone',
    'startFailed',
    'authFailed',
    'engineStopped',
  ),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
})
const queueCommand = fc.record({
  session: fc.constantFrom(...SESSIONS),
  kind: fc.constantFrom('pause', 'resume', 'configure', 'cooldown', 'clear'),
  concurrency: fc.integer({ min: 1, max: 10 }),
})
const step = fc.record({
  advanceMs: fc.integer({ min: 0, max: 40_000 }),
  command: fc.oneof(
    jobCommand.map((c) => ({ type: 'job' as const, c })),
    sessionCommand.map((c) => ({ type: 'session' as const, c })),
    queueCommand.map((c) => ({ type: 'queue' as const, c })),
  ),
})

type Cmd = ReturnType<typeof step.generate>['value']['command']

const factsFor = (cmd: Cmd, now: number, attempts: number): { streamId: string; facts: Fact[] } => {
  const at = iso(now)
  if (cmd.type === 'job') {
    const c = cmd.c
    // Outcomes name the attempt in flight; before any attempt they name attempt 1 and are refused.
    const current = Math.max(attempts, 1)
    const data = (d: Record<string, unknown>) => ({ ...d, at })
    const facts: Record<string, Fact> = {
      queue: {
        type: 'JobQueued',
        data: data({
          jobId: c.job,
          sessionId: 'default',
          chatId: '6281234567890@c.us',
          body: 'hello',
          priority: c.priority,
          maxAttempts: 3,
          backoffBaseMs: 2000,
          backoffMaxMs: 20_000,
          sendAt: c.sendAfterMs === null ? null : iso(now + c.sendAfterMs),
          idempotencyKey: null,
        }),
      },
      start: { type: 'JobAttemptStarted', data: data({ attempt: attempts + 1 }) },
      send: { type: 'JobSent', data: data({ attempt: current, messageId: `m-${now}` }) },
      fail: {
        type: 'JobAttemptFailed',
        data: data({
          attempt: current,
          error: { code: 'E', message: 'e', retryable: c.retryable },
          jitter: c.jitter,
        }),
      },
      rateLimit: { type: 'JobRateLimited', data: data({ attempt: current }) },
      withdraw: { type: 'JobAttemptWithdrawn', data: data({ attempt: current }) },
      interrupt: { type: 'JobAttemptInterrupted', data: data({ attempt: current, retry: c.retryable }) },
      cancel: { type: 'JobCancelled', data: data({ reason: 'test' }) },
      retry: { type: 'JobRetryRequested', data: data({}) },
    }
    return { streamId: streamIds.job(c.job), facts: [facts[c.kind] as Fact] }
  }
  if (cmd.type === 'session') {
    const c = cmd.c
    const err = { code: 'E', message: 'e' }
    const facts: Record<string, Fact> = {
      create: {
        type: 'SessionCreated',
        data: {
          sessionId: c.session,
          config: {
            keepaliveMs: 30_000,
            probeTimeoutMs: 10_000,
            qrTimeoutMs: 60_000,
            authTimeoutMs: 30_000,
            startTimeoutMs: 30_000,
            restartBaseMs: 1000,
            restartMaxMs: 30_000,
            maxRestarts: 3,
          },
          at,
        },
      },
      start: { type: 'SessionStartRequested', data: { at } },
      stop: { type: 'SessionStopRequested', data: { at } },
      reset: { type: 'SessionResetRequested', data: { at } },
      logout: { type: 'SessionLogoutRequested', data: { at } },
      qr: { type: 'SessionQrIssued', data: { at } },
      auth: { type: 'SessionAuthenticated', data: { at } },
      ready: { type: 'SessionReady', data: { phoneNumber: '6281200000000', at } },
      probeOk: { type: 'SessionProbeSucceeded', data: { engineState: 'CONNECTED', at } },
      probeFail: { type: 'SessionProbeFailed', data: { error: err, at } },
      disconnect: { type: 'SessionDisconnected', data: { reason: 'NAVIGATION', jitter: c.jitter, at } },
      logoutByPhone: { type: 'SessionDisconnected', data: { reason: 'LOGOUT', jitter: c.jitter, at } },
      startFailed: { type: 'SessionStartFailed', data: { error: err, jitter: c.jitter, at } },
      authFailed: { type: 'SessionAuthFailed', data: { error: err, at } },
      engineStopped: { type: 'SessionEngineStopped', data: { jitter: c.jitter, at } },
    }
    return { streamId: streamIds.session(c.session), facts: [facts[c.kind] as Fact] }
  }
  const c = cmd.c
  const facts: Record<string, Fact> = {
    pause: { type: 'QueuePaused', data: { at } },
    resume: { type: 'QueueResumed', data: { at } },
    configure: { type: 'QueueConfigured', data: { changes: { concurrency: c.concurrency }, at } },
    cooldown: { type: 'QueueCooldownStarted', data: { reason: 'RATE_LIMITED', at } },
    clear: { type: 'QueueCleared', data: { cancelled: 0, at } },
  }
  return { streamId: streamIds.queue(c.session), facts: [facts[c.kind] as Fact] }
}

const snapshotOf = (db: import('better-sqlite3').Database) =>
  Object.fromEntries(PROJECTION_TABLES.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]))

describe('rebuilding projections', () => {
  it('gives exactly the live projections after a long randomised history, timers included; rows restore the folded snapshots', async () => {
    let taken = 0
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 100, maxLength: 400 }), async (steps) => {
        const clock = createFakeClock(T0)
        const core = openTestCore(tempDir(), { clock })
        const scheduler = createTimerScheduler({
          db: core.db,
          store: core.store,
          commands: core.commands,
          clock,
        })
        scheduler.start()
        try {
          for (const s of steps) {
            clock.advance(s.advanceMs)
            await scheduler.idle()
            const { streamId } = factsFor(s.command, clock.now(), 0)
            try {
              await core.commands.execute(streamId, ({ snapshot }) => {
                const attempts = (snapshot.context as { attempts?: number }).attempts ?? 0
                return factsFor(s.command, clock.now(), attempts).facts
              })
              taken++
            } catch (err) {
              if (!(err instanceof IllegalStateError)) throw err
            }
          }
          await scheduler.stop()
          await core.store.flush()
          const report = await verifyProjections(core.db)
          expect(report.differences).toEqual([])
          const live = snapshotOf(core.db)
          // A snapshot restored from its row is the snapshot its events fold to.
          const streams = core.db.prepare('SELECT DISTINCT stream_id FROM events').pluck().all() as string[]
          for (const streamId of streams) {
            const aggregate = aggregateOf(streamId)
            const restored = loadStream(core.store, aggregate, streamId)
            const folded = foldStream(core.store, aggregate, streamId)
            expect(restored.version).toBe(folded.version)
            expect(restored.snapshot.value).toEqual(folded.snapshot.value)
            expect(restored.snapshot.status).toBe(folded.snapshot.status)
            expect(restored.snapshot.context).toStrictEqual(folded.snapshot.context)
          }
          await rebuildProjections(core.db)
          expect(snapshotOf(core.db)).toEqual(live)
        } finally {
          await scheduler.stop()
          await core.close()
        }
      }),
      { numRuns: 25 },
    )
    // The generator must exercise the machines, not just be refused by them.
    expect(taken).toBeGreaterThan(25 * 40)
  }, 120_000)
})
