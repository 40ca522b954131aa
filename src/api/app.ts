// The HTTP app: a factory over its dependencies. Every error leaves in one shape.
import { Hono } from 'hono'
import type { Db } from '../eventlog/database.ts'
import type { Logger } from '../logger.ts'

export interface ApiDeps {
  db: Db
  log?: Pick<Logger, 'error'>
}

export const errorBody = (code: string, message: string, details?: unknown) => ({
  success: false as const,
  error: { code, message, ...(details === undefined ? {} : { details }) },
})

/**
 * @example
 * const res = await createApp({ db }).request('/healthz')
 */
export const createApp = ({ db, log }: ApiDeps) => {
  const ping = db.prepare('SELECT 1').pluck()
  const app = new Hono()
  app.get('/healthz', (c) => {
    ping.get()
    return c.json({ status: 'ok' })
  })
  app.notFound((c) => c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), 404))
  app.onError((err, c) => {
    log?.error({ err, path: c.req.path }, 'request failed')
    return c.json(errorBody('INTERNAL', 'internal error'), 500)
  })
  return app
}
