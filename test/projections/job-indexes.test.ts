import { describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import { rebuildProjections } from '../../src/projections/rebuild.ts'
import { WAITING_JOBS_SQL } from '../../src/runtime/dispatcher.ts'
import { job } from '../support/facts.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

const planOf = (db: { prepare(sql: string): { all(...a: unknown[]): unknown[] } }, sql: string) =>
  (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('default', 3) as { detail: string }[])
    .map((r) => r.detail)
    .join(' | ')

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
      const plan = planOf(core.db, WAITING_JOBS_SQL)
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
})
