import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { RETRY_QUEUE_SQL } from '../../src/api/job-read.ts'
import { SENT_SINCE_SQL } from '../../src/api/queue-routes.ts'
import { aggregates, streamIds } from '../../src/core/aggregates.ts'
import type { Snapshot } from '../../src/core/fold.ts'
import { loadStream } from '../../src/core/load-stream.ts'
import type { Db } from '../../src/eventlog/database.ts'
import { createProjector } from '../../src/projections/projector.ts'
import { rebuildProjections } from '../../src/projections/rebuild.ts'
import { WAITING_JOBS_SQL } from '../../src/runtime/dispatcher.ts'
import { job } from '../support/facts.ts'
import { openTestCore, queryPlan } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

/**
 * The tables and indexes whose pages one commit writes: the WAL is emptied first, then the frames `write`
 * leaves in it are named by the b-tree their page belongs to.
 */
const btreesWritten = async (db: Db, write: () => Promise<unknown>): Promise<Set<string>> => {
  db.pragma('wal_checkpoint(TRUNCATE)')
  await write()
  const pageSize = db.pragma('page_size', { simple: true }) as number
  const wal = readFileSync(`${db.name}-wal`)
  const pages = new Set<number>()
  // A 32-byte header, then frames: a 24-byte header (the page number first), then the page.
  for (let offset = 32; offset + 24 + pageSize <= wal.length; offset += 24 + pageSize) {
    pages.add(wal.readUInt32BE(offset))
  }
  const owner = new Map(
    (db.prepare('SELECT pageno, name FROM dbstat').all() as { pageno: number; name: string }[]).map((r) => [
      r.pageno,
      r.name,
    ]),
  )
  return new Set([...pages].map((p) => owner.get(p) ?? `page ${p}`))
}

describe('the jobs indexes', () => {
  it("answer the dispatcher's query in its order from the waiting jobs alone", async () => {
    const core = openTestCore(tempDir())
    try {
      // 9 jobs: 3 still waiting, 6 sent.
      for (let i = 0; i < 9; i++) {
        const jobId = `01JX${String(i).padStart(22, '0')}`
        const queued = job.queued({ jobId, priority: (['high', 'normal', 'low'] as const)[i % 3] })
        await core.commands.execute(streamIds.job(jobId), () =>
          i < 3 ? [queued] : [queued, job.started(1), job.sent(1)],
        )
      }
      const plan = queryPlan(core.db, WAITING_JOBS_SQL, 'default', 3).join(' | ')
      expect(plan).toContain('USING INDEX jobs_waiting')
      // The index's order is the dispatcher's: no sort, no scan of the table.
      expect(plan).not.toMatch(/TEMP B-TREE|SCAN/)

      // The index holds only the waiting jobs, live and after a rebuild.
      const entries = () =>
        core.db
          .prepare("SELECT sum(ncell) FROM dbstat WHERE name = 'jobs_waiting' AND pagetype = 'leaf'")
          .pluck()
          .get()
      expect(entries()).toBe(3)
      await rebuildProjections(core.db, { workers: 0 })
      expect(entries()).toBe(3)
      const next = core.db.prepare(WAITING_JOBS_SQL).all('default', 3) as { id: string }[]
      expect(next.map((r) => r.id)).toEqual([0, 1, 2].map((i) => `01JX${String(i).padStart(22, '0')}`))
    } finally {
      await core.close()
    }
  })

  it('are left alone by a change that keeps what the job was queued with', async () => {
    const core = openTestCore(tempDir())
    try {
      const stream = streamIds.job('01JTEST0000000000000000001')
      await core.commands.execute(stream, () => [job.queued({ idempotencyKey: 'invoice-42' })])
      const written = await btreesWritten(core.db, () =>
        core.commands.execute(stream, () => [job.started(1)]),
      )
      // The row and the index by status change; the indexes by session and by idempotency key do not,
      // and the dispatcher's index loses the job, which is no longer waiting.
      expect([...written].filter((n) => n.startsWith('jobs')).sort()).toEqual([
        'jobs',
        'jobs_by_status',
        'jobs_waiting',
      ])
    } finally {
      await core.close()
    }
  })

  it('follow a change of what a job was queued with', async () => {
    const core = openTestCore(tempDir())
    try {
      const ids = ['01JTEST0000000000000000001', '01JTEST0000000000000000002']
      for (const jobId of ids)
        await core.commands.execute(streamIds.job(jobId), () => [job.queued({ jobId })])
      const stream = streamIds.job(ids[1] as string)
      const { snapshot: before, version } = loadStream(core.store, aggregates.job, stream)
      const after = { ...before, context: { ...before.context, priority: 'high' } } as Snapshot
      core.db.transaction(() =>
        createProjector(core.db).apply({
          aggregate: aggregates.job,
          streamId: stream,
          version,
          before,
          after,
          timers: { remove: [], upsert: [] },
        }),
      )()
      expect(core.db.prepare('SELECT priority, priority_rank FROM jobs WHERE id = ?').get(ids[1])).toEqual({
        priority: 'high',
        priority_rank: 0,
      })
      const next = core.db.prepare(WAITING_JOBS_SQL).all('default', 2) as { id: string }[]
      expect(next.map((r) => r.id)).toEqual([ids[1], ids[0]])
    } finally {
      await core.close()
    }
  })
})

describe('the index by status', () => {
  it("answers one session's jobs of a status as one range of it", async () => {
    const core = openTestCore(tempDir())
    try {
      const plan = (sql: string, ...params: unknown[]) => queryPlan(core.db, sql, ...params).join(' | ')
      // Sent in the last minute: counted in the index alone, without reading each job's row.
      expect(plan(SENT_SINCE_SQL, 'default', '2026-01-05T08:00:00.000Z')).toBe(
        'SEARCH jobs USING COVERING INDEX jobs_by_status (status=? AND session_id=? AND updated_at>?)',
      )
      // The retry queue: the session's jobs of the status, already in time order.
      expect(plan(RETRY_QUEUE_SQL, 'failed', 'default', 0, 501)).toBe(
        'SEARCH jobs USING INDEX jobs_by_status (status=? AND session_id=?)',
      )
    } finally {
      await core.close()
    }
  })
})

describe('the event log', () => {
  it('writes, for an append, its table, its two unique indexes and its sequence', async () => {
    const core = openTestCore(tempDir())
    try {
      await core.commands.execute(streamIds.job('01JTEST0000000000000000001'), () => [job.queued()])
      const written = await btreesWritten(core.db, () =>
        core.commands.execute(streamIds.job('01JTEST0000000000000000001'), () => [job.started(1)]),
      )
      const ofTheLog = [...written].filter((n) =>
        /^(events|sqlite_autoindex_events_|sqlite_sequence)/.test(n),
      )
      expect(ofTheLog.sort()).toEqual([
        'events',
        'sqlite_autoindex_events_1',
        'sqlite_autoindex_events_2',
        'sqlite_sequence',
      ])
    } finally {
      await core.close()
    }
  })
})
