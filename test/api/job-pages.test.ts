import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { JOB_PAGE_SQL, type Job, jobReader } from '../../src/api/job-read.ts'
import { openTestCore, queryPlan } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

const STATUSES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled'] as const
const PRIORITIES = ['high', 'normal', 'low'] as const

interface Row {
  id: string
  sessionId: string
  status: Job['status']
  priority: (typeof PRIORITIES)[number]
  createdAt: string
}

const insertRows = (db: ReturnType<typeof openTestCore>['db'], rows: Row[]) => {
  const insert = db.prepare(
    `INSERT INTO jobs (id, session_id, status, priority, priority_rank, chat_id, body, attempts, max_attempts,
       version, machine_version, machine_state, context, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, '6281234567890@c.us', 'hi', 0, 5, 1, 1, '"waiting"', '{}', ?, ?)`,
  )
  db.transaction(() => {
    for (const r of rows) {
      insert.run(
        r.id,
        r.sessionId,
        r.status,
        r.priority,
        PRIORITIES.indexOf(r.priority),
        r.createdAt,
        r.createdAt,
      )
    }
  })()
}

/** Every page of a listing, followed by its cursor to the end. */
const allPages = (
  jobs: ReturnType<typeof jobReader>,
  sessionId: string,
  status: Job['status'] | undefined,
  limit: number,
) => {
  const seen: string[] = []
  let cursor: string | undefined
  for (let pages = 0; pages < 1000; pages++) {
    const page = jobs.page(sessionId, { status, limit, cursor })
    expect(page.jobs.length).toBeLessThanOrEqual(limit)
    seen.push(...page.jobs.map((j) => j.id))
    if (page.nextCursor === null) return seen
    cursor = page.nextCursor
  }
  throw new Error('the cursor never ended')
}

describe('a page of jobs', () => {
  it('is read, for every status and for all jobs, from an index in its order', async () => {
    const core = openTestCore(tempDir())
    try {
      const plans = Object.fromEntries(
        Object.entries(JOB_PAGE_SQL).map(([name, sql]) => [
          name,
          queryPlan(core.db, sql, {
            sessionId: 'default',
            status: 'failed',
            createdAt: '\uffff',
            id: '\uffff',
            limit: 51,
          }),
        ]),
      )
      // Delayed, failed and cancelled jobs come from their own index, in the page's order: no sort, and
      // no walk through the session's other jobs.
      expect(plans['listed']).toEqual([
        expect.stringMatching(
          /^SEARCH jobs USING (COVERING )?INDEX jobs_listed \(session_id=\? AND status=\? AND \(created_at,id\)<\(\?,\?\)\)$/,
        ),
      ])
      // Waiting jobs: one range of the dispatcher's index per priority, each already in order.
      const waiting = plans['waiting'] ?? []
      expect(waiting.filter((d) => d.startsWith('SEARCH jobs'))).toEqual([
        expect.stringMatching(
          /USING (COVERING )?INDEX jobs_waiting \(session_id=\? AND priority_rank=\? AND \(created_at,id\)<\(\?,\?\)\)$/,
        ),
        expect.stringMatching(/USING (COVERING )?INDEX jobs_waiting/),
        expect.stringMatching(/USING (COVERING )?INDEX jobs_waiting/),
      ])
      for (const name of ['all', 'completed']) {
        expect(plans[name]).toEqual([
          expect.stringMatching(
            /^SEARCH jobs USING INDEX jobs_by_session \(session_id=\? AND \(created_at,id\)<\(\?,\?\)\)$/,
          ),
        ])
      }
      for (const plan of Object.values(plans)) expect(plan.join(' | ')).not.toMatch(/SCAN jobs/)
    } finally {
      await core.close()
    }
  })

  it('lists, page after page, exactly the jobs asked for, newest first', async () => {
    const core = openTestCore(tempDir())
    const jobs = jobReader(core.db)
    const row = fc.record({
      sessionId: fc.constantFrom('default', 'shop'),
      status: fc.constantFrom(...STATUSES),
      priority: fc.constantFrom(...PRIORITIES),
      // Few distinct times, so that many jobs share one and the id decides.
      second: fc.integer({ min: 0, max: 5 }),
    })
    try {
      fc.assert(
        fc.property(
          fc.array(row, { maxLength: 40 }),
          fc.integer({ min: 1, max: 7 }),
          fc.constantFrom(undefined, ...STATUSES),
          (drawn, limit, status) => {
            core.db.exec('DELETE FROM jobs')
            const rows: Row[] = drawn.map((r, i) => ({
              id: `01JX${String(i).padStart(22, '0')}`,
              sessionId: r.sessionId,
              status: r.status,
              priority: r.priority,
              createdAt: `2026-01-05T08:00:0${r.second}.000Z`,
            }))
            insertRows(core.db, rows)
            const expected = rows
              .filter((r) => r.sessionId === 'default' && (status === undefined || r.status === status))
              .sort((a, b) =>
                a.createdAt === b.createdAt
                  ? b.id.localeCompare(a.id)
                  : b.createdAt.localeCompare(a.createdAt),
              )
              .map((r) => r.id)
            expect(allPages(jobs, 'default', status, limit)).toEqual(expected)
          },
        ),
        { numRuns: 300 },
      )
    } finally {
      await core.close()
    }
  })
})
