import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import type { Core } from '../../src/core/open-core.ts'
import { ReplayError } from '../../src/errors.ts'
import { PROJECTION_TABLES, rebuildProjections } from '../../src/projections/rebuild.ts'
import { verifyProjections } from '../../src/projections/verify.ts'
import { iso, job, queue, session, T0 } from '../support/facts.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const dump = (core: Core) =>
  Object.fromEntries(
    PROJECTION_TABLES.map((t) => [t, core.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]),
  )

/** 300 jobs in every status, two sessions, a paused queue, and timers armed. */
const seed = async (dir: string) => {
  const core = openTestCore(dir)
  for (let i = 0; i < 300; i++) {
    const jobId = `01JW${String(i).padStart(22, '0')}`
    const sessionId = i % 3 === 0 ? 'shop' : 'default'
    const queued = job.queued({ jobId, sessionId, sendAt: i % 7 === 0 ? iso(T0 + 60_000) : null })
    const path = [
      [queued],
      [queued, job.started(1)],
      [queued, job.started(1), job.sent(1)],
      [queued, job.started(1), job.failed(1, { retryable: true })],
      [queued, job.started(1), job.failed(1, { retryable: false })],
      [queued, job.cancelled()],
    ][i % 6]
    await core.commands.execute(streamIds.job(jobId), () => (i % 7 === 0 ? [queued] : (path ?? [])))
  }
  await core.commands.execute(streamIds.session('default'), () => [
    session.created(),
    session.startRequested(),
  ])
  await core.commands.execute(streamIds.queue('shop'), () => [queue.paused()])
  return core
}

describe('rebuilding with worker threads', () => {
  it('gives the same projections as folding in one thread, and as the live ones', async () => {
    const core = await seed(tempDir())
    try {
      const live = dump(core)
      const inThread = await rebuildProjections(core.db, { workers: 0 })
      expect(dump(core)).toEqual(live)
      const parallel = await rebuildProjections(core.db, { workers: 2 })
      expect(parallel).toMatchObject({ workers: 2, events: inThread.events, streams: inThread.streams })
      expect(dump(core)).toEqual(live)
      expect((await verifyProjections(core.db, { workers: 3 })).identical).toBe(true)
      expect(core.db.prepare('SELECT count(*) FROM timers').pluck().get()).toBeGreaterThan(0)
    } finally {
      await core.close()
    }
  })

  it.each([
    ['a worker’s range', 294],
    ['the range this thread folds', 6],
  ])('stops on an unreadable event inside %s and writes nothing', async (_where, broken) => {
    const dir = tempDir()
    const core = await seed(dir)
    const before = dump(core)
    await core.close()
    const raw = new Database(join(dir, 'kurir.db'))
    raw.pragma('ignore_check_constraints = ON')
    raw
      .prepare(
        `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
         VALUES ('01JFORGED00000000000000000', ?, 'job', 2, 'JobSent', 1, '{"attempt":', '{}', 'x')`,
      )
      .run(streamIds.job(`01JW${String(broken).padStart(22, '0')}`))
    raw.close()
    const again = openTestCore(dir)
    const cacheSize = again.db.pragma('cache_size', { simple: true })
    try {
      await expect(rebuildProjections(again.db, { workers: 2 })).rejects.toThrow(ReplayError)
      await expect(rebuildProjections(again.db, { workers: 2 })).rejects.toThrow(/corrupt JSON in its data/)
      expect(dump(again)).toEqual(before)
      // The settings a rebuild raises for itself are put back.
      expect(again.db.pragma('cache_size', { simple: true })).toBe(cacheSize)
      expect(again.db.pragma('threads', { simple: true })).toBe(0)
    } finally {
      await again.close()
    }
  })
})
