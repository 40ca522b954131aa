import { afterEach, describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import type { Core } from '../../src/core/open-core.ts'
import { createTimerScheduler, type TimerScheduler } from '../../src/runtime/timer-scheduler.ts'
import { at, iso, job, session, T0 } from '../support/facts.ts'
import { createFakeClock, type FakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const JOB = '01JTEST0000000000000000001'
const jobStream = streamIds.job(JOB)

let open: { core: Core; scheduler: TimerScheduler }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.scheduler.stop()
    await o.core.close()
  }
})
const start = (dir: string, clock: FakeClock) => {
  const core = openTestCore(dir, { clock })
  const scheduler = createTimerScheduler({ db: core.db, store: core.store, commands: core.commands, clock })
  open.push({ core, scheduler })
  return { core, scheduler }
}
const stop = async (o: { core: Core; scheduler: TimerScheduler }) => {
  await o.scheduler.stop()
  await o.core.close()
  open = open.filter((x) => x !== o)
}
const types = (core: Core, streamId: string) => core.store.readStream(streamId).map((e) => e.type)

describe('persisted timers', () => {
  it('arms a due time in the transaction of the event that asks for it', async () => {
    const { core } = start(tempDir(), createFakeClock(T0))
    await core.commands.execute(jobStream, () => [job.queued({ sendAt: iso(T0 + 10_000) })])
    expect(core.db.prepare('SELECT delay, fact_type, due_at, armed_version FROM timers').all()).toEqual([
      { delay: 'untilDue', fact_type: 'JobDue', due_at: iso(T0 + 10_000), armed_version: 1 },
    ])
  })

  it('sleeps until the earliest due time, without polling, and fires then', async () => {
    const clock = createFakeClock(T0)
    const { core, scheduler } = start(tempDir(), clock)
    scheduler.start()
    await core.commands.execute(jobStream, () => [job.queued({ sendAt: iso(T0 + 10_000) })])
    expect(clock.pending()).toBe(1)
    clock.advance(9_999)
    await scheduler.idle()
    expect(types(core, jobStream)).toEqual(['JobQueued'])
    clock.advance(1)
    await scheduler.idle()
    await core.store.flush()
    expect(types(core, jobStream)).toEqual(['JobQueued', 'JobDue'])
    expect(core.db.prepare('SELECT status FROM jobs').pluck().get()).toBe('waiting')
    expect(core.db.prepare('SELECT count(*) FROM timers').pluck().get()).toBe(0)
    expect(clock.pending()).toBe(0)
  })

  it('survives a restart: armed, process stopped, clock advanced, started again — fires once', async () => {
    const dir = tempDir()
    const clock = createFakeClock(T0)
    const first = start(dir, clock)
    first.scheduler.start()
    await first.core.commands.execute(jobStream, () => [job.queued({ sendAt: iso(T0 + 60_000) })])
    await stop(first)

    clock.set(T0 + 3_600_000) // an hour later, the process starts again
    const second = start(dir, clock)
    second.scheduler.start()
    await second.scheduler.idle()
    await second.core.store.flush()
    expect(types(second.core, jobStream)).toEqual(['JobQueued', 'JobDue'])
    const due = second.core.store.readStream(jobStream)[1]
    expect(due?.data).toEqual({ timer: 'untilDue', dueAt: iso(T0 + 60_000), at: iso(T0 + 3_600_000) })
    await stop(second)

    clock.advance(3_600_000)
    const third = start(dir, clock)
    third.scheduler.start()
    await third.scheduler.idle()
    expect(types(third.core, jobStream)).toEqual(['JobQueued', 'JobDue'])
  })

  it('drops a timer when the machine leaves the state that armed it', async () => {
    const clock = createFakeClock(T0)
    const { core, scheduler } = start(tempDir(), clock)
    scheduler.start()
    await core.commands.execute(jobStream, () => [job.queued({ sendAt: iso(T0 + 10_000) })])
    await core.commands.execute(jobStream, () => [job.cancelled()])
    await core.store.flush()
    expect(core.db.prepare('SELECT count(*) FROM timers').pluck().get()).toBe(0)
    clock.advance(20_000)
    await scheduler.idle()
    expect(types(core, jobStream)).toEqual(['JobQueued', 'JobCancelled'])
  })

  it('drives a session through keepalive and restart backoff on timers alone', async () => {
    const clock = createFakeClock(T0)
    const { core, scheduler } = start(tempDir(), clock)
    const s = streamIds.session('default')
    scheduler.start()
    const now = () => at(clock.now() - T0)
    await core.commands.execute(s, () => [session.created(), session.startRequested(), session.ready()])
    clock.advance(30_000) // keepalive
    await scheduler.idle()
    expect(core.db.prepare('SELECT machine_state FROM sessions').pluck().get()).toBe('{"ready":"probing"}')
    clock.advance(10_000) // the probe never answers
    await scheduler.idle()
    expect(core.db.prepare('SELECT state FROM sessions').pluck().get()).toBe('timeout')
    await core.commands.execute(s, () => [{ type: 'SessionEngineStopped', data: { jitter: 0.5, at: now() } }])
    expect(core.db.prepare('SELECT state, consecutive_failures FROM sessions').get()).toEqual({
      state: 'restarting',
      consecutive_failures: 1,
    })
    clock.advance(2_000) // restart backoff, attempt 1 at jitter 0.5
    await scheduler.idle()
    expect(core.db.prepare('SELECT state FROM sessions').pluck().get()).toBe('starting')
    expect(types(core, s).slice(3)).toEqual([
      'SessionKeepaliveDue',
      'SessionProbeTimedOut',
      'SessionEngineStopped',
      'SessionRestartDue',
    ])
  })
})
