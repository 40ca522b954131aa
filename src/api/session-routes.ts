// Sessions over HTTP: `/api/sessions` (list, create) and `/api/sessions/{id}/…`, with the same sub-routes
// under `/api/whatsapp/…` for the `default` session: status, QR, start, stop, logout, reset, delete.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import QRCode from 'qrcode'
import { msUpTo } from '../core/event-schemas.ts'
import { IllegalStateError, NotFoundError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import { DEFAULT_SESSION, type SessionManager } from '../runtime/session-manager.ts'
import type { ApiEnv } from './deps.ts'
import { bearer, errors } from './schemas.ts'
import { requireAdmin, type ScopedRoute, SessionIdParams, scoped } from './scoped.ts'
import { SessionSchema, StatusSchema, sessionStatusReader } from './session-status.ts'

const ConfigSchema = z
  .object({
    keepaliveMs: msUpTo(86_400_000).min(1_000),
    probeTimeoutMs: msUpTo(600_000).min(100),
    qrTimeoutMs: msUpTo(86_400_000).min(1_000),
    authTimeoutMs: msUpTo(3_600_000).min(1_000),
    startTimeoutMs: msUpTo(3_600_000).min(1_000),
    restartBaseMs: msUpTo(3_600_000),
    restartMaxMs: msUpTo(86_400_000),
    maxRestarts: z.number().int().min(0).max(1000),
  })
  .partial()
  .strict()
  .openapi('SessionConfig')

const CreateBody = z
  .object({ id: SessionIdParams.shape.id, config: ConfigSchema.optional() })
  .strict()
  .openapi('CreateSession')

const QrQuery = z.object({
  format: z.enum(['json', 'png']).default('json').openapi({ description: '`png` answers image/png' }),
})

const QrSchema = z
  .object({
    qr: z.string().openapi({ description: 'the QR text; a login secret while it is valid' }),
    dataUrl: z.string().openapi({ description: 'the QR as a PNG data URL' }),
    issuedAt: z.string(),
  })
  .openapi('Qr')

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })

export interface SessionRoutesDeps {
  db: Db
  sessions: SessionManager
  /** The simulator's controls, when WA_ENGINE=simulator: its routes exist only then. */
  simulator?: { link(sessionId: string): void; disconnect(sessionId: string): void }
}

/**
 * @example
 * app.route('/', sessionRoutes({ db, sessions, simulator }))
 */
export const sessionRoutes = ({ db, sessions, simulator }: SessionRoutesDeps) => {
  const app = new OpenAPIHono<ApiEnv>()
  const status = sessionStatusReader(db)
  const qrWaiting = (id: string) => sessions.qrOf(id) !== null
  const statusOf = (id: string) => status.of(id, qrWaiting(id))

  const both = (
    def: Omit<ScopedRoute, 'tags'>,
    handler: (c: Context<ApiEnv>, id: string) => Promise<Response> | Response,
  ) => scoped(app, { ...def, tags: ['sessions'] }, handler)

  const operator = (sub: string, summary: string, act: (id: string) => Promise<unknown>) =>
    both(
      {
        method: 'post',
        sub,
        summary,
        admin: true,
        responses: {
          200: { description: 'The session now', ...json(StatusSchema) },
          ...errors(401, 403, 404, 409),
        },
      },
      async (c, id) => {
        await act(id)
        return c.json(statusOf(id), 200)
      },
    )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/sessions',
      tags: ['sessions'],
      summary: 'Every session',
      security: bearer,
      responses: {
        200: { description: 'Sessions', ...json(z.object({ sessions: z.array(SessionSchema) })) },
        ...errors(401),
      },
    }),
    (c) => c.json({ sessions: sessions.ids().map((id) => status.session(id, qrWaiting(id))) }, 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/sessions',
      tags: ['sessions'],
      summary: 'Create a session (stopped; start it to get a QR)',
      security: bearer,
      request: { body: { ...json(CreateBody), required: true } },
      responses: {
        201: { description: 'Created', ...json(StatusSchema) },
        ...errors(400, 401, 403, 409, 415),
      },
    }),
    async (c) => {
      requireAdmin(c)
      const { id, config } = c.req.valid('json')
      await sessions.create(id, config)
      return c.json(statusOf(id), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/sessions/{id}',
      tags: ['sessions'],
      summary:
        'Delete a session: its engine stops and its stored login is discarded. Refused (409) for the default session, and while messages of the session are unfinished',
      security: bearer,
      request: { params: SessionIdParams },
      responses: {
        200: { description: 'Deleted', ...json(z.object({ id: z.string(), deleted: z.literal(true) })) },
        ...errors(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      requireAdmin(c)
      const { id } = c.req.valid('param')
      if (id === DEFAULT_SESSION) {
        // `/api/whatsapp/…` is the default session: it always exists.
        throw new IllegalStateError(
          'the default session cannot be deleted (it serves /api/whatsapp/…); stop it or log it out instead',
        )
      }
      if (!sessions.exists(id)) throw new NotFoundError(`no session '${id}'`)
      // Its messages would wait unseen for a session that never comes, or go out from another account
      // created later under the same id.
      const { waiting, delayed, active } = statusOf(id).queue
      if (waiting + delayed + active > 0) {
        throw new IllegalStateError(
          `session '${id}' has ${waiting + delayed + active} unfinished messages: clear its queue (POST /api/sessions/${id}/queue/clear) and let the active ones finish, then delete it`,
          { details: { waiting, delayed, active } },
        )
      }
      await sessions.remove(id)
      return c.json({ id, deleted: true as const }, 200)
    },
  )

  both(
    {
      method: 'get',
      sub: '/status',
      summary: "The session's state and its queue",
      admin: false,
      responses: { 200: { description: 'Status', ...json(StatusSchema) }, ...errors(400, 401, 404) },
    },
    (c, id) => {
      // The default session answers even before it exists (stopped); others must exist.
      if (id !== DEFAULT_SESSION && !sessions.exists(id)) {
        throw new NotFoundError(`no session '${id}'`, { details: { sessionId: id } })
      }
      return c.json(statusOf(id), 200)
    },
  )

  both(
    {
      method: 'get',
      sub: '/qr',
      summary: 'The QR to scan, as text and data URL, or as a PNG',
      admin: true,
      query: QrQuery,
      responses: {
        200: {
          description: 'The current QR',
          content: {
            'application/json': { schema: QrSchema },
            'image/png': { schema: z.string().openapi({ format: 'binary' }) },
          },
        },
        ...errors(400, 401, 403, 404, 409),
      },
    },
    async (c, id) => {
      const current = sessions.get(id).qr()
      if (!current) {
        throw new IllegalStateError(`session '${id}' is not waiting for a QR scan`, {
          details: { sessionId: id, state: sessions.get(id).state() },
        })
      }
      // A QR is a login secret while it is valid: nothing on the way may keep it.
      c.header('Cache-Control', 'no-store')
      if (c.req.query('format') === 'png') {
        const png = await QRCode.toBuffer(current.qr, { type: 'png', margin: 2, width: 320 })
        return c.body(new Uint8Array(png), 200, { 'Content-Type': 'image/png' })
      }
      return c.json(
        {
          qr: current.qr,
          dataUrl: await QRCode.toDataURL(current.qr, { margin: 2, width: 320 }),
          issuedAt: new Date(current.issuedAtMs).toISOString(),
        },
        200,
      )
    },
  )

  operator('/start', 'Start the session (a QR follows unless it is linked)', (id) => sessions.start(id))
  operator('/stop', 'Stop the session; its login is kept', (id) => sessions.stop(id))
  operator('/logout', 'Unlink the session from the phone; a new QR is needed', (id) => sessions.logout(id))
  operator('/reset-session', 'Log out, remove the stored login and start again with a new QR', (id) =>
    sessions.reset(id),
  )

  if (simulator) {
    const control = (sub: string, summary: string, act: (id: string) => void) =>
      both(
        {
          method: 'post',
          sub,
          summary,
          admin: true,
          responses: {
            200: { description: 'Done', ...json(z.object({ ok: z.literal(true) })) },
            ...errors(401, 403, 404, 409),
          },
        },
        (c, id) => {
          sessions.get(id)
          try {
            act(id)
          } catch (err) {
            const code = (err as { code?: string }).code
            if (code === 'NOT_WAITING_FOR_SCAN' || code === 'NOT_RUNNING') {
              throw new IllegalStateError((err as Error).message, {
                details: { sessionId: id, reason: code },
              })
            }
            throw err
          }
          return c.json({ ok: true as const }, 200)
        },
      )
    control('/simulator/link', 'Simulator: the phone scans the QR now', (id) => simulator.link(id))
    control('/simulator/disconnect', 'Simulator: the phone loses its network', (id) =>
      simulator.disconnect(id),
    )
  }

  return app
}
