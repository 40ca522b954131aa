// Retention's one guarantee, under a gateway that goes on working: every event that leaves the live log
// is in the archive file, and the file holds nothing that stayed.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { streamIds } from '../../src/core/aggregates.ts'
import { archiveFinishedJobs } from '../../src/core/retention.ts'
import { verifyProjections } from '../../src/projections/verify.ts'
import { at, job } from '../support/facts.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const DAY_MS = 86_400_000
const idOf = (n: number) => `01JTEST${String(n).padStart(19, '0')}`

describe('archiving finished jobs', () => {
  it('keeps a job that changes while the file is written: its events stay in the log, and out of the file', async () => {
    const dir = tempDir()
    const clock = createFakeClock()
    const core = openTestCore(dir, { clock })
    try {
      // More jobs than are written between two turns of the event loop.
      const ids = Array.from({ length: 700 }, (_, i) => idOf(i + 1))
      await Promise.all(
        ids.map((jobId) =>
          core.commands.execute(streamIds.job(jobId), () => [
            job.queued({ jobId }),
            job.started(1),
            job.failed(1, { retryable: false }),
          ]),
        ),
      )
      clock.advance(2 * DAY_MS)
      const deps = { db: core.db, store: core.store, commands: core.commands, clock, dataDir: dir }

      const archiving = archiveFinishedJobs(deps, { olderThanDays: 1 })
      // The first jobs are in the file already when an operator retries one of them, and it fails again.
      const [retried] = ids as [string]
      const now = { at: at(2 * DAY_MS) }
      await core.commands.execute(streamIds.job(retried), () => [
        job.retryRequested(now),
        job.started(1, now),
        job.failed(1, { retryable: false }, now),
      ])
      const report = await archiving

      expect(report).toMatchObject({ jobs: 699, events: 699 * 3 })
      expect(core.store.readStream(streamIds.job(retried)).map((e) => e.type)).toEqual([
        'JobQueued',
        'JobAttemptStarted',
        'JobAttemptFailed',
        'JobRetryRequested',
        'JobAttemptStarted',
        'JobAttemptFailed',
      ])
      const archived = readFileSync(report.file as string, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { streamId: string })
      expect(archived).toHaveLength(699 * 3)
      expect(archived.some((e) => e.streamId === streamIds.job(retried))).toBe(false)
      expect(new Set(archived.map((e) => e.streamId)).size).toBe(699)
      expect(core.db.prepare('SELECT count(*) FROM events WHERE stream_type = ?').pluck().get('job')).toBe(6)
      // The audit event counts what left.
      expect(core.store.readStream(streamIds.queue('default')).at(-1)).toMatchObject({
        type: 'QueueJobsArchived',
        data: { jobs: 699, events: 699 * 3, file: report.file },
      })
      expect((await verifyProjections(core.db)).identical).toBe(true)
    } finally {
      await core.close()
    }
  })
})
