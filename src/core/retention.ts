// Retention: the streams of jobs that finished before a cut-off are written to an NDJSON archive file,
// then removed from the live log with their projection rows, in the transaction that appends the audit
// event `QueueJobsArchived` to their queue's stream. The only path by which events leave the log.
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock } from '../clock.ts'
import { ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import { streamIds } from './aggregates.ts'
import type { CommandHandler } from './command-handler.ts'

const DAY_MS = 86_400_000
const FINISHED = ['completed', 'failed', 'cancelled'] as const
type Finished = (typeof FINISHED)[number]

export interface ArchiveDeps {
  db: Db
  store: EventStore
  commands: CommandHandler
  clock: Clock
  dataDir: string
}

export interface ArchiveReport {
  jobs: number
  events: number
  finishedBefore: string
  /** The archive file, or null when nothing was old enough. */
  file: string | null
}

/**
 * @example
 * await archiveFinishedJobs(deps, { olderThanDays: 30 })               // every session
 * await archiveFinishedJobs(deps, { olderThanDays: 7, sessionId: 'sales' })
 */
export const archiveFinishedJobs = async (
  { db, store, commands, clock, dataDir }: ArchiveDeps,
  { olderThanDays, sessionId }: { olderThanDays: number; sessionId?: string },
): Promise<ArchiveReport> => {
  if (!Number.isInteger(olderThanDays) || olderThanDays < 1 || olderThanDays > 36_500) {
    // Idempotency keys are kept at least a day: nothing younger may go.
    throw new ValidationError('olderThanDays is a whole number of days, at least 1')
  }
  const now = clock.now()
  const finishedBefore = new Date(now - olderThanDays * DAY_MS).toISOString()
  // One session's finished jobs are one range of the index by status per status; all sessions' (the
  // command line's archive, off the gateway's event loop) are the whole of those.
  const finished = `SELECT id, session_id AS sessionId FROM jobs INDEXED BY jobs_by_status
    WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < ?`
  const candidates = (
    sessionId === undefined
      ? db.prepare(`${finished} ORDER BY session_id, id`).all(finishedBefore)
      : db.prepare(`${finished} AND session_id = ? ORDER BY id`).all(finishedBefore, sessionId)
  ) as { id: string; sessionId: string }[]
  if (candidates.length === 0) return { jobs: 0, events: 0, finishedBefore, file: null }

  // First the archive, durable on disk; only then may anything leave the log.
  const folder = join(dataDir, 'archive')
  mkdirSync(folder, { recursive: true })
  const file = join(folder, `events-${new Date(now).toISOString().replaceAll(':', '-')}.ndjson`)
  const fd = openSync(file, 'a', 0o600)
  try {
    for (const job of candidates) {
      for (const e of store.readStream(streamIds.job(job.id))) writeSync(fd, `${JSON.stringify(e)}\n`)
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }

  const listForArchive = db.prepare('INSERT INTO archiving (stream_id) VALUES (?)')
  const deleteEvents = db.prepare('DELETE FROM events WHERE stream_id = ?')
  const unlist = db.prepare('DELETE FROM archiving WHERE stream_id = ?')
  const statusOf = db.prepare('SELECT status FROM jobs WHERE id = ?').pluck()
  const deleteJob = db.prepare('DELETE FROM jobs WHERE id = ?')
  const deleteTimers = db.prepare('DELETE FROM timers WHERE stream_id = ?')
  const counters = new Map(
    FINISHED.map((s) => [s, db.prepare(`UPDATE queues SET ${s} = ${s} - ? WHERE session_id = ?`)]),
  )

  let jobs = 0
  let events = 0
  const countEvents = db.prepare('SELECT count(*) FROM events WHERE stream_id = ?').pluck()
  const bySession = new Map<string, { id: string }[]>()
  for (const c of candidates) bySession.set(c.sessionId, [...(bySession.get(c.sessionId) ?? []), c])
  for (const [session, chosen] of bySession) {
    let removedJobs = 0
    let removedEvents = 0
    let list = chosen
    const removeAll = () => {
      const removed: Record<Finished, number> = { completed: 0, failed: 0, cancelled: 0 }
      for (const { id } of list) {
        // A job retried since it was chosen is live again: it stays.
        const status = statusOf.get(id) as string | undefined
        if (status !== 'completed' && status !== 'failed' && status !== 'cancelled') continue
        const stream = streamIds.job(id)
        listForArchive.run(stream)
        removedEvents += deleteEvents.run(stream).changes
        unlist.run(stream)
        deleteJob.run(id)
        deleteTimers.run(stream)
        removed[status]++
        removedJobs++
      }
      for (const s of FINISHED) if (removed[s] > 0) counters.get(s)?.run(removed[s], session)
    }
    const at = new Date(clock.now()).toISOString()
    await commands.execute(
      streamIds.queue(session),
      () => {
        // The audit event says what leaves: the jobs still finished now, and their events.
        list = chosen.filter(({ id }) => FINISHED.includes(statusOf.get(id) as Finished))
        const n = list.reduce((sum, { id }) => sum + (countEvents.get(streamIds.job(id)) as number), 0)
        return [
          { type: 'QueueJobsArchived', data: { jobs: list.length, events: n, finishedBefore, file, at } },
        ]
      },
      { actor: 'retention' },
      { alsoInTransaction: removeAll },
    )
    jobs += removedJobs
    events += removedEvents
  }
  return { jobs, events, finishedBefore, file }
}
