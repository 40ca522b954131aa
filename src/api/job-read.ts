// Jobs as the API shows them, read from the jobs projection.
import { z } from '@hono/zod-openapi'
import type { Statement } from 'better-sqlite3'
import { ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'

export const JobSchema = z
  .object({
    id: z.string(),
    sessionId: z.string(),
    status: z.enum(['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled']),
    priority: z.enum(['high', 'normal', 'low']),
    chatId: z.string(),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    lastError: z
      .object({ code: z.string(), message: z.string(), retryable: z.boolean() })
      .nullable()
      .openapi({ description: 'the last failure and whether it can be retried' }),
    nextAttemptAt: z.string().nullable(),
    sendAt: z.string().nullable(),
    messageId: z.string().nullable(),
    duplicateRisk: z
      .boolean()
      .openapi({ description: 'an attempt was interrupted by a stop: it may have been sent twice' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Job')

export type Job = z.infer<typeof JobSchema>

type JobRow = {
  id: string
  session_id: string
  status: Job['status']
  priority: Job['priority']
  chat_id: string
  attempts: number
  max_attempts: number
  last_error: string | null
  next_attempt_at: string | null
  send_at: string | null
  message_id: string | null
  duplicate_risk: number
  created_at: string
  updated_at: string
}

const COLUMNS = `id, session_id, status, priority, chat_id, attempts, max_attempts, last_error, next_attempt_at,
  send_at, message_id, duplicate_risk, created_at, updated_at`

const toJob = (r: JobRow): Job => ({
  id: r.id,
  sessionId: r.session_id,
  status: r.status,
  priority: r.priority,
  chatId: r.chat_id,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  lastError: r.last_error ? (JSON.parse(r.last_error) as Job['lastError']) : null,
  nextAttemptAt: r.next_attempt_at,
  sendAt: r.send_at,
  messageId: r.message_id,
  duplicateRisk: r.duplicate_risk === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

const encodeCursor = (r: JobRow) => Buffer.from(`${r.created_at}|${r.id}`).toString('base64url')
/** What a cursor holds: a job's creation time, in Kurir's own form, and its id. */
const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9A-HJKMNP-TV-Z]{26})$/
const decodeCursor = (cursor: string): [string, string] => {
  const [, createdAt, id] = CURSOR.exec(Buffer.from(cursor, 'base64url').toString()) ?? []
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) {
    throw new ValidationError('cursor: not a cursor from a previous page', { details: { cursor } })
  }
  return [createdAt, id]
}

// A page, newest first, is read from an index already in that order, whatever the status asked for: one
// filtered by walking every job of the session would hold the event loop for as long as it takes to find
// a page of rare ones. Each index's own condition is repeated so that SQLite can use it.
const BELOW = `(created_at, id) < (@createdAt, @id) ORDER BY created_at DESC, id DESC
  LIMIT CAST(@limit AS INTEGER)`
const waitingOfRank = (rank: number) =>
  `SELECT * FROM (SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_waiting
    WHERE status = 'waiting' AND session_id = @sessionId AND priority_rank = ${rank} AND ${BELOW})`

/** The statements of a page of jobs: every job, or the jobs of one status. */
export const JOB_PAGE_SQL = {
  all: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_session WHERE session_id = @sessionId AND ${BELOW}`,
  // Nearly every job of a long log: the few others are skipped on the way.
  completed: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_session
    WHERE session_id = @sessionId AND status = 'completed' AND ${BELOW}`,
  // The dispatcher's index keeps waiting jobs by priority, then by age: newest first across the three.
  waiting: `${[0, 1, 2].map(waitingOfRank).join(' UNION ALL ')} ORDER BY created_at DESC, id DESC
    LIMIT CAST(@limit AS INTEGER)`,
  // No more than the queues' concurrency.
  active: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_status
    WHERE status = 'active' AND session_id = @sessionId AND ${BELOW}`,
  listed: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_listed
    WHERE status IN ('delayed', 'failed', 'cancelled') AND session_id = @sessionId AND status = @status
      AND ${BELOW}`,
} as const

/** A session's latest jobs in one status (delayed or failed, for the retry queue), last changed first. */
export const RETRY_QUEUE_SQL = `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_status
  WHERE status = ? AND session_id = ? AND attempts >= ? ORDER BY updated_at DESC LIMIT CAST(? AS INTEGER)`

/** How many jobs of each list the retry queue shows unless asked for fewer. */
export const RETRY_QUEUE_LIMIT = 500

/**
 * @example
 * const jobs = jobReader(db)
 * jobs.page('default', { status: 'failed', limit: 50 })
 */
export const jobReader = (db: Db) => {
  const one = db.prepare(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`)
  const pages = Object.fromEntries(
    Object.entries(JOB_PAGE_SQL).map(([k, sql]) => [k, db.prepare(sql)]),
  ) as Record<keyof typeof JOB_PAGE_SQL, Statement>
  const inStatus = db.prepare(RETRY_QUEUE_SQL)
  return {
    get(jobId: string): Job | null {
      const r = one.get(jobId) as JobRow | undefined
      return r ? toJob(r) : null
    },
    page(
      sessionId: string,
      q: { status?: Job['status'] | undefined; limit: number; cursor?: string | undefined },
    ) {
      const [createdAt, id] = q.cursor ? decodeCursor(q.cursor) : ['\uffff', '\uffff']
      const params = { sessionId, createdAt, id, limit: q.limit + 1 }
      const rows = (
        q.status === undefined
          ? pages.all.all(params)
          : q.status === 'completed' || q.status === 'waiting' || q.status === 'active'
            ? pages[q.status].all(params)
            : pages.listed.all({ ...params, status: q.status })
      ) as JobRow[]
      const page = rows.slice(0, q.limit)
      const last = page.at(-1)
      return {
        jobs: page.map(toJob),
        nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null,
      }
    },
    /** The latest `limit` of each list; `truncated` says which list has more. */
    retryQueue(sessionId: string, limit = RETRY_QUEUE_LIMIT) {
      // One row past the limit tells whether there are more.
      const list = (status: 'delayed' | 'failed', minAttempts: number) =>
        (inStatus.all(status, sessionId, minAttempts, limit + 1) as JobRow[]).map(toJob)
      // Delayed for a retry: a job scheduled for later and not tried yet is not in it.
      const delayed = list('delayed', 1)
      const failed = list('failed', 0)
      return {
        delayed: delayed.slice(0, limit),
        failed: failed.slice(0, limit),
        truncated: { delayed: delayed.length > limit, failed: failed.length > limit },
      }
    },
  }
}
