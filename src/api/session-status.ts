// A session's status as the projections have it: state and since when, the last error, restarts, the
// linked number, when the next restart is due, and the last state changes (folded from the log).

import { z } from '@hono/zod-openapi'
import { SESSION_STATES } from '../../machines/session-machine.ts'
import type { Db } from '../eventlog/database.ts'
import { queueStateReader } from '../projections/queue-state.ts'

export type SessionStateName = (typeof SESSION_STATES)[number]

const SessionError = z.object({ code: z.string(), message: z.string() }).openapi('SessionError')

export const SessionSchema = z
  .object({
    id: z.string(),
    state: z.enum(SESSION_STATES),
    since: z.string().nullable().openapi({ description: 'when the session entered this state' }),
    lastError: SessionError.nullable(),
    phoneNumber: z.string().nullable().openapi({ description: 'the linked number, once ready' }),
    restartAttempts: z.number().int().openapi({ description: 'failed starts since it was last ready' }),
    restarts: z.number().int().openapi({ description: 'restarts over its life' }),
    nextRestartAt: z.string().nullable().openapi({ description: 'while restarting: when' }),
    qrWaiting: z.boolean().openapi({ description: 'a QR waits to be scanned (GET …/qr)' }),
    history: z
      .array(z.object({ state: z.string(), at: z.string(), error: SessionError.nullable() }))
      .openapi({ description: 'the last state changes, oldest first' }),
  })
  .openapi('Session')

export const QueueCountsSchema = z
  .object({
    waiting: z.number().int(),
    active: z.number().int(),
    delayed: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    paused: z.boolean(),
  })
  .openapi('QueueCounts')

export const StatusSchema = z.object({ session: SessionSchema, queue: QueueCountsSchema }).openapi('Status')

export type SessionStatus = z.infer<typeof SessionSchema>
export type Status = z.infer<typeof StatusSchema>

type SessionRow = {
  state: string
  since: string
  last_error: string | null
  consecutive_failures: number
  restarts: number
  phone_number: string | null
  context: string
}
type StoredChange = { state: string; atMs: number; error: { code: string; message: string } | null }

const isState = (s: string): s is SessionStateName => (SESSION_STATES as readonly string[]).includes(s)
const iso = (ms: number) => new Date(ms).toISOString()

/**
 * @example
 * const status = sessionStatusReader(db)
 * status.of('default', false) // { session: {...}, queue: {...} }
 */
export const sessionStatusReader = (db: Db) => {
  const sessionRow = db.prepare(
    `SELECT state, since, last_error, consecutive_failures, restarts, phone_number, context
     FROM sessions WHERE id = ?`,
  )
  const restartDue = db
    .prepare("SELECT due_at FROM timers WHERE stream_id = ? AND delay = 'restartBackoff'")
    .pluck()
  const queueOf = queueStateReader(db)

  const session = (id: string, qrWaiting: boolean): SessionStatus => {
    const row = sessionRow.get(id) as SessionRow | undefined
    if (!row || !isState(row.state)) {
      // Never created (or deleted): nothing runs.
      return {
        id,
        state: 'stopped',
        since: null,
        lastError: null,
        phoneNumber: null,
        restartAttempts: 0,
        restarts: 0,
        nextRestartAt: null,
        qrWaiting: false,
        history: [],
      }
    }
    const context = JSON.parse(row.context) as { history?: StoredChange[] }
    return {
      id,
      state: row.state,
      since: row.since,
      lastError: row.last_error ? (JSON.parse(row.last_error) as SessionStatus['lastError']) : null,
      phoneNumber: row.phone_number,
      restartAttempts: row.consecutive_failures,
      restarts: row.restarts,
      nextRestartAt:
        row.state === 'restarting' ? ((restartDue.get(`session-${id}`) as string | undefined) ?? null) : null,
      qrWaiting: qrWaiting && row.state === 'qr',
      history: (context.history ?? []).map((h) => ({ state: h.state, at: iso(h.atMs), error: h.error })),
    }
  }

  const queue = (id: string): Status['queue'] => {
    const q = queueOf(id)
    return { ...q.counts, paused: q.paused }
  }

  return {
    session,
    of: (id: string, qrWaiting: boolean): Status => ({ session: session(id, qrWaiting), queue: queue(id) }),
  }
}
