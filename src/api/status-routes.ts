// GET /api/whatsapp/status: the default session's state and its queue's counts, from the projections.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { Db } from '../eventlog/database.ts'
import { JOB_STATUSES } from '../projections/rows.ts'
import type { ApiEnv } from './deps.ts'
import { bearer, errors } from './schemas.ts'

export const SESSION_STATES = [
  'stopped',
  'starting',
  'qr',
  'authenticating',
  'ready',
  'timeout',
  'restarting',
  'logged_out',
  'failed',
] as const

const StatusSchema = z
  .object({
    session: z.object({
      id: z.string(),
      state: z.enum(SESSION_STATES),
      since: z.string().nullable(),
      phoneNumber: z.string().nullable(),
      lastError: z.unknown().nullable(),
    }),
    queue: z.object({
      waiting: z.number().int(),
      active: z.number().int(),
      delayed: z.number().int(),
      completed: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
      paused: z.boolean(),
    }),
  })
  .openapi('Status')

const status = createRoute({
  method: 'get',
  path: '/api/whatsapp/status',
  tags: ['whatsapp'],
  summary: "The default session's state and its queue",
  security: bearer,
  responses: {
    200: { description: 'Status', content: { 'application/json': { schema: StatusSchema } } },
    ...errors(401),
  },
})

type SessionRow = { state: string; since: string; phone_number: string | null; last_error: string | null }
type QueueRow = Record<(typeof JOB_STATUSES)[number], number> & { paused: number }

const isState = (s: string): s is (typeof SESSION_STATES)[number] =>
  (SESSION_STATES as readonly string[]).includes(s)

/**
 * @example
 * app.route('/', statusRoutes(db))
 */
export const statusRoutes = (db: Db, sessionId = 'default') => {
  const sessionRow = db.prepare('SELECT state, since, phone_number, last_error FROM sessions WHERE id = ?')
  const queueRow = db.prepare(`SELECT paused, ${JOB_STATUSES.join(', ')} FROM queues WHERE session_id = ?`)
  const app = new OpenAPIHono<ApiEnv>()
  app.openapi(status, (c) => {
    const s = sessionRow.get(sessionId) as SessionRow | undefined
    const q = queueRow.get(sessionId) as QueueRow | undefined
    return c.json(
      {
        session: {
          id: sessionId,
          // A session that was never created is stopped.
          state: s && isState(s.state) ? s.state : 'stopped',
          since: s?.since ?? null,
          phoneNumber: s?.phone_number ?? null,
          lastError: s?.last_error ? (JSON.parse(s.last_error) as unknown) : null,
        },
        queue: {
          waiting: q?.waiting ?? 0,
          active: q?.active ?? 0,
          delayed: q?.delayed ?? 0,
          completed: q?.completed ?? 0,
          failed: q?.failed ?? 0,
          cancelled: q?.cancelled ?? 0,
          paused: q?.paused === 1,
        },
      },
      200,
    )
  })
  return app
}
