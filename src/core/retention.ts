// Retention: the streams of jobs that finished before a cut-off are written to an NDJSON archive file,
// then removed from the live log with their projection rows, in the transaction that appends the audit
// event `QueueJobsArchived` to their queue's stream. The only path by which events leave the log.
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Clock } from '../clock.ts'
import { ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import { streamIds } from './aggregates.ts'
import type { CommandHandler } from './command-handler.ts'

const DAY_MS = 86_400_000
/** Jobs written to the archive file between two turns of the event loop. */
const WRITE_SLICE = 500
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
  // The version each job's stream had when it was written out: a job that changes after that (retried
  // and finished again) is not removed, or its new events would be lost.
  const written = new Map<string, number>()
  const fd = openSync(file, 'a', 0o600)
  try {
    let n = 0
    for (const job of candidates) {
      let version = 0
      for (const e of store.readStream(streamIds.job(job.id))) {
        writeSync(fd, `${JSON.stringify(e)}\n`)
        version = e.version
      }
      written.set(job.id, version)
      // The gateway goes on serving while a large archive is written.
      if (++n % WRITE_SLICE === 0) await new Promise((r) => setImmediate(r))
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }

  const listForArchive = db.prepare('INSERT INTO archiving (stream_id) VALUES (?)')
  const deleteEvents = db.prepare('DELETE FROM events WHERE stream_id = ?')
  const unlist = db.prepare('DELETE FROM archiving WHERE stream_id = ?')
  const statusOf = db.prepare('SELECT status FROM jobs WHERE id = ?').pluck()
  const versionOf = db.prepare('SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?').pluck()
  /** The job's status, if it is finished and unchanged since its events were written to the file. */
  const archivable = (id: string): Finished | null => {
    const status = statusOf.get(id) as string | undefined
    if (status !== 'completed' && status !== 'failed' && status !== 'cancelled') return null
    return versionOf.get(streamIds.job(id)) === written.get(id) ? status : null
  }
  const deleteJob = db.prepare('DELETE FROM jobs WHERE id = ?')
  const deleteTimers = db.prepare('DELETE FROM timers WHERE stream_id = ?')
  const counters = new Map(
    FINISHED.map((s) => [s, db.prepare(`UPDATE queues SET ${s} = ${s} - ? WHERE session_id = ?`)]),
  )

  let jobs = 0
  let events = 0
  const countEvents = db.prepare('SELECT count(*) FROM events WHERE stream_id = ?').pluck()
  const bySession = new Map<string, { id: string }[]>()
  for (const c of candidates) {
    const list = bySession.get(c.sessionId)
    if (list) list.push(c)
    else bySession.set(c.sessionId, [c])
  }
  const kept = new Set<string>()
  for (const [session, chosen] of bySession) {
    let removedJobs = 0
    let removedEvents = 0
    let list = chosen
    const removeAll = () => {
      // The audit event was decided before this transaction: if a job changed in between (a retry
      // committed in the same batch), it counted the wrong jobs; the append fails and is decided again.
      const leaving: { id: string; status: Finished }[] = []
      for (const { id } of chosen) {
        const status = archivable(id)
        if (status !== null) leaving.push({ id, status })
        // A job that changed since it was written out (retried, live again or finished again) stays.
        else kept.add(id)
      }
      // Both lists keep the order of `chosen`: the same jobs, position by position.
      if (leaving.length !== list.length || leaving.some(({ id }, i) => list[i]?.id !== id)) {
        throw new ArchiveSetChanged()
      }
      const removed: Record<Finished, number> = { completed: 0, failed: 0, cancelled: 0 }
      for (const { id, status } of leaving) {
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
    for (;;) {
      try {
        await commands.execute(
          streamIds.queue(session),
          () => {
            // The audit event says what leaves: the jobs still finished and unchanged, and their events.
            list = chosen.filter(({ id }) => archivable(id) !== null)
            const n = list.reduce((sum, { id }) => sum + (countEvents.get(streamIds.job(id)) as number), 0)
            return [
              { type: 'QueueJobsArchived', data: { jobs: list.length, events: n, finishedBefore, file, at } },
            ]
          },
          { actor: 'retention' },
          { alsoInTransaction: removeAll },
        )
        break
      } catch (err) {
        if (!(err instanceof ArchiveSetChanged)) throw err
      }
    }
    jobs += removedJobs
    events += removedEvents
  }
  // The file holds what left the log and nothing else: the events of jobs that stayed come out of it.
  if (kept.size > 0) await dropFromArchive(file, new Set([...kept].map(streamIds.job)))
  return { jobs, events, finishedBefore, file }
}

/** A job chosen for the archive changed between the audit event's decision and its transaction. */
class ArchiveSetChanged extends Error {}

/**
 * Rewrites an archive file without the events of these streams: written beside it, flushed, then put in
 * its place, so a crash leaves either file whole (the old one only repeats events still in the log).
 */
const dropFromArchive = async (file: string, streams: Set<string>): Promise<void> => {
  const next = `${file}.part`
  const fd = openSync(next, 'w', 0o600)
  try {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })
    for await (const line of lines) {
      if (line === '') continue
      if (!streams.has((JSON.parse(line) as { streamId: string }).streamId)) writeSync(fd, `${line}\n`)
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(next, file)
}
