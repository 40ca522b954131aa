import { afterEach, describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import type { Core } from '../../src/core/open-core.ts'
import { IllegalStateError } from '../../src/errors.ts'
import { job, queue } from '../support/facts.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
let core: Core
afterEach(async () => core?.close())
const JOB = '01JTEST0000000000000000001'
const stream = streamIds.job(JOB)

describe('deciding a command', () => {
  it('appends the facts the machine takes and projects them in the same transaction', async () => {
    core = openTestCore(tempDir())
    const r = await core.commands.execute(stream, () => [job.queued({ priority: 'high' })], { actor: 'test' })
    expect(r.version).toBe(1)
    expect(r.steps[0]?.effects.map((e) => e.type)).toEqual(['wakeDispatcher'])
    const row = core.db.prepare('SELECT status, priority, version FROM jobs WHERE id = ?').get(JOB)
    expect(row).toEqual({ status: 'waiting', priority: 'high', version: 1 })
    const meta = core.store.readStream(stream)[0]?.metadata
    expect(meta).toMatchObject({ machineVersion: 1, actor: 'test' })
    expect(meta?.commandId).toBeTruthy()
    expect(meta?.correlationId).toBe(meta?.commandId)
    expect(core.db.prepare('SELECT waiting FROM queues WHERE session_id = ?').pluck().get('default')).toBe(1)
  })

  it('rejects a fact the machine refuses with a typed error, and writes nothing', async () => {
    core = openTestCore(tempDir())
    await core.commands.execute(stream, () => [job.queued()])
    const before = core.db.prepare('SELECT * FROM jobs').all()
    const attempt = core.commands.execute(stream, () => [job.sent(1)])
    await expect(attempt).rejects.toThrow(IllegalStateError)
    await expect(core.commands.execute(stream, () => [job.sent(1)])).rejects.toThrow(
      /JobSent is not allowed while job .* is waiting/,
    )
    expect(core.store.streamVersion(stream)).toBe(1)
    expect(core.db.prepare('SELECT * FROM jobs').all()).toEqual(before)
  })

  it('refuses the whole command when any of its facts is refused', async () => {
    core = openTestCore(tempDir())
    await core.commands.execute(stream, () => [job.queued()])
    await expect(core.commands.execute(stream, () => [job.started(1), job.started(2)])).rejects.toThrow(
      IllegalStateError,
    )
    expect(core.store.streamVersion(stream)).toBe(1)
  })

  it('rejects a malformed fact before anything is appended', async () => {
    core = openTestCore(tempDir())
    await expect(core.commands.execute(stream, () => [job.queued({ priority: 'urgent' })])).rejects.toThrow()
    expect(core.store.streamVersion(stream)).toBe(0)
  })

  it('decides again on a write from another connection, so two racing commands never both win', async () => {
    const dir = tempDir()
    core = openTestCore(dir)
    // Another writer on the same file, as the command line is beside a running gateway.
    const other = openTestCore(dir)
    try {
      await core.commands.execute(stream, () => [job.queued()])
      let decisions = 0
      const results = await Promise.allSettled([
        core.commands.execute(stream, () => {
          decisions++
          return [job.started(1)]
        }),
        other.commands.execute(stream, () => {
          decisions++
          return [job.cancelled()]
        }),
      ])
      // Whichever commits first wins; the other finds the stream moved, decides again and is refused.
      const won = results.findIndex((r) => r.status === 'fulfilled')
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(won).toBeGreaterThanOrEqual(0)
      expect(lost.reason).toBeInstanceOf(IllegalStateError)
      expect(decisions).toBe(3)
      expect(core.store.readStream(stream).map((e) => e.type)).toEqual([
        'JobQueued',
        won === 0 ? 'JobAttemptStarted' : 'JobCancelled',
      ])
    } finally {
      await other.close()
    }
  })

  it('runs concurrent commands on one stream one after another, each on the state the last one left', async () => {
    core = openTestCore(tempDir())
    const queueStream = streamIds.queue('default')
    const seen: number[] = []
    // Far more than the retries a conflict allows: racing, most of these would fail.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        core.commands.execute(queueStream, ({ version, snapshot }) => {
          seen.push(version)
          // A pause or a resume only when it changes something, decided on the current state.
          const paused = JSON.stringify(snapshot.value).includes('paused')
          if (i % 2 === 0) return paused ? [] : [queue.paused()]
          return paused ? [queue.resumed()] : []
        }),
      ),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    // Each decided once, in order, on the version the one before it left.
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i))
    expect(core.store.readStream(queueStream).map((e) => e.type)).toEqual(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'QueuePaused' : 'QueueResumed')),
    )
  })

  it('keeps commands on other streams apart from a slow one', async () => {
    core = openTestCore(tempDir())
    const first = core.commands.execute(stream, () => [job.queued()])
    const other = core.commands.execute(streamIds.job('01JTEST0000000000000000002'), () => [job.queued()])
    // Both appends go into the same commit: neither waited for the other.
    const [a, b] = await Promise.all([first, other])
    expect(a.events[0]?.position).toBe(1)
    expect(b.events[0]?.position).toBe(2)
  })

  it('folds from the log when the snapshot row is missing or from another machine version', async () => {
    core = openTestCore(tempDir())
    await core.commands.execute(stream, () => [job.queued(), job.started(1)])
    core.db.prepare('DELETE FROM jobs').run()
    expect(core.commands.load(stream).snapshot.value).toBe('active')
    await core.commands.execute(stream, () => [job.sent(1)])
    core.db.prepare('UPDATE jobs SET machine_version = 0, machine_state = ?').run('"waiting"')
    expect(core.commands.load(stream).snapshot.value).toBe('completed')
  })
})
