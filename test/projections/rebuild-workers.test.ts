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
      const parallel = await rebuildProjections(core.db, { workers: 2, chunkStreams: 20 })
      expect(parallel).toMatchObject({ workers: 2, events: inThread.events, streams: inThread.streams })
      expect(dump(core)).toEqual(live)
      // Workers alone fold every chunk; this thread only writes.
      const byWorkers = await rebuildProjections(core.db, { workers: 2, chunkStreams: 20, foldHere: false })
      expect(byWorkers).toMatchObject({ events: inThread.events, streams: inThread.streams })
      expect(dump(core)).toEqual(live)
      expect((await verifyProjections(core.db, { workers: 3 })).identical).toBe(true)
      expect(core.db.prepare('SELECT count(*) FROM timers').pluck().get()).toBeGreaterThan(0)
    } finally {
      await core.close()
    }
  })

  it.each([
    ['folded by a worker', false],
    ['folded by this thread', true],
  ])('stops on an unreadable event in a chunk %s and writes nothing', async (_where, foldHere) => {
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
      .run(streamIds.job(`01JW${String(6).padStart(22, '0')}`))
    raw.close()
    const again = openTestCore(dir)
    const cacheSize = again.db.pragma('cache_size', { simple: true })
    try {
      // The broken stream is in the first chunk, which this thread takes when it folds at all.
      const options = { workers: 2, chunkStreams: 20, foldHere }
      await expect(rebuildProjections(again.db, options)).rejects.toThrow(ReplayError)
      await expect(rebuildProjections(again.db, options)).rejects.toThrow(/corrupt JSON in its data/)
      expect(dump(again)).toEqual(before)
      // The page cache a rebuild raises for itself is put back.
      expect(again.db.pragma('cache_size', { simple: true })).toBe(cacheSize)
    } finally {
      await again.close()
    }
  })
})
