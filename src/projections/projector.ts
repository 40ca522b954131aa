// Writes the read models for one stream change. The same code serves the live path (inside the append's
// transaction) and rebuilds (into `main` or an attached schema set aside for comparison).
import type { JobContext, JobStatus } from '../../machines/job-machine.ts'
import type { QueueContext } from '../../machines/queue-machine.ts'
import type { SessionContext } from '../../machines/session-machine.ts'
import { toIso } from '../clock.ts'
import type { Aggregate } from '../core/aggregates.ts'
import { entityIdOf } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import type { Db } from '../eventlog/database.ts'

export interface TimerRow {
  timerId: string
  delay: string
  factType: string
  dueMs: number
  armedVersion: number
}

export interface StreamChange {
  aggregate: Aggregate
  streamId: string
  version: number
  /** The snapshot before, or null when the stream had no projection yet. */
  before: Snapshot | null
  after: Snapshot
  timers: { remove: string[]; upsert: TimerRow[] }
}

export interface Projector {
  apply(change: StreamChange): void
}

export const PRIORITY_RANK = { high: 0, normal: 1, low: 2 } as const

const JOB_STATUSES: ReadonlySet<string> = new Set<JobStatus>([
  'waiting',
  'active',
  'delayed',
  'completed',
  'failed',
  'cancelled',
])

/** The top-level state: `ready` for `{ ready: 'probing' }`. */
export const topState = (snapshot: Snapshot): string => {
  const v = snapshot.value
  return typeof v === 'string' ? v : (Object.keys(v as object)[0] ?? '')
}

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : toIso(ms))
const jsonOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v))

/**
 * @param schema `main` for the live tables, or the name of an attached schema holding copies of them
 *
 * @example
 * const projector = createProjector(db)
 * projector.apply({ aggregate, streamId, version, before, after, timers })
 */
export const createProjector = (db: Db, schema = 'main'): Projector => {
  const s = schema
  const upsertSnapshot = db.prepare(
    `INSERT INTO ${s}.stream_snapshots (stream_id, stream_type, version, machine_version, state, context, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, machine_version = excluded.machine_version,
       state = excluded.state, context = excluded.context, updated_at = excluded.updated_at`,
  )
  const upsertJob = db.prepare(
    `INSERT INTO ${s}.jobs (id, session_id, status, priority, priority_rank, chat_id, body, attempts, max_attempts,
       last_error, next_attempt_at, send_at, message_id, idempotency_key, duplicate_risk, version, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
       max_attempts = excluded.max_attempts, last_error = excluded.last_error,
       next_attempt_at = excluded.next_attempt_at, message_id = excluded.message_id,
       duplicate_risk = excluded.duplicate_risk, version = excluded.version, updated_at = excluded.updated_at`,
  )
  const ensureQueue = db.prepare(
    `INSERT INTO ${s}.queues (session_id, config) VALUES (?, '{}') ON CONFLICT DO NOTHING`,
  )
  const countStmts = new Map(
    [...JOB_STATUSES].map((status) => [
      status,
      db.prepare(`UPDATE ${s}.queues SET ${status} = ${status} + ? WHERE session_id = ?`),
    ]),
  )
  const upsertQueue = db.prepare(
    `INSERT INTO ${s}.queues (session_id, paused, cooldown_until, config, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (session_id) DO UPDATE SET paused = excluded.paused, cooldown_until = excluded.cooldown_until,
       config = excluded.config, version = excluded.version, updated_at = excluded.updated_at`,
  )
  const upsertSession = db.prepare(
    `INSERT INTO ${s}.sessions (id, state, since, last_error, consecutive_failures, restarts, phone_number, version,
       created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET state = excluded.state, since = excluded.since, last_error = excluded.last_error,
       consecutive_failures = excluded.consecutive_failures, restarts = excluded.restarts,
       phone_number = excluded.phone_number, version = excluded.version, updated_at = excluded.updated_at`,
  )
  const deleteTimer = db.prepare(`DELETE FROM ${s}.timers WHERE stream_id = ? AND timer_id = ?`)
  const upsertTimer = db.prepare(
    `INSERT INTO ${s}.timers (stream_id, timer_id, delay, fact_type, due_at, due_ms, armed_version)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (stream_id, timer_id) DO UPDATE SET delay = excluded.delay, fact_type = excluded.fact_type,
       due_at = excluded.due_at, due_ms = excluded.due_ms, armed_version = excluded.armed_version`,
  )

  const countJob = (sessionId: string, status: string, by: number) => {
    if (!JOB_STATUSES.has(status)) return
    ensureQueue.run(sessionId)
    countStmts.get(status)?.run(by, sessionId)
  }

  const projectJob = (change: StreamChange) => {
    const c = change.after.context as JobContext
    const status = topState(change.after)
    upsertJob.run(
      c.jobId,
      c.sessionId,
      status,
      c.priority,
      PRIORITY_RANK[c.priority],
      c.chatId,
      c.body,
      c.attempts,
      c.maxAttempts,
      jsonOrNull(c.lastError),
      isoOrNull(c.nextAttemptAtMs),
      isoOrNull(c.sendAtMs),
      c.messageId,
      c.idempotencyKey,
      c.duplicateRisk ? 1 : 0,
      change.version,
      toIso(c.createdAtMs),
      toIso(c.updatedAtMs),
    )
    const previous = change.before ? topState(change.before) : null
    if (previous !== status) {
      if (previous !== null) countJob(c.sessionId, previous, -1)
      countJob(c.sessionId, status, 1)
    }
  }

  const projectSession = (change: StreamChange) => {
    const c = change.after.context as SessionContext
    upsertSession.run(
      c.sessionId,
      topState(change.after),
      toIso(c.sinceMs),
      jsonOrNull(c.lastError),
      c.consecutiveFailures,
      c.restarts,
      c.phoneNumber,
      change.version,
      toIso(c.createdAtMs),
      toIso(c.updatedAtMs),
    )
  }

  const projectQueue = (change: StreamChange) => {
    const c = change.after.context as QueueContext
    const paused = change.after.matches({ flow: 'paused' } as never) ? 1 : 0
    upsertQueue.run(
      entityIdOf(change.streamId),
      paused,
      isoOrNull(c.cooldownUntilMs),
      JSON.stringify(c.config),
      change.version,
      toIso(c.updatedAtMs),
    )
  }

  return {
    apply(change) {
      const { after, aggregate, streamId } = change
      upsertSnapshot.run(
        streamId,
        aggregate.streamType,
        change.version,
        aggregate.machineVersion,
        JSON.stringify(after.value),
        JSON.stringify(after.context),
        toIso((after.context as { updatedAtMs: number }).updatedAtMs),
      )
      if (aggregate.streamType === 'job') projectJob(change)
      else if (aggregate.streamType === 'session') projectSession(change)
      else projectQueue(change)
      for (const id of change.timers.remove) deleteTimer.run(streamId, id)
      for (const t of change.timers.upsert) {
        upsertTimer.run(streamId, t.timerId, t.delay, t.factType, toIso(t.dueMs), t.dueMs, t.armedVersion)
      }
    },
  }
}
