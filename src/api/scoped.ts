// One route, two places: under /api/whatsapp for the `default` session and under /api/sessions/{id} for
// any session, with the same schemas in the OpenAPI document.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { SESSION_ID } from '../engines/engine.ts'
import { ForbiddenError } from '../errors.ts'
import { DEFAULT_SESSION } from '../runtime/session-manager.ts'
import type { ApiEnv } from './deps.ts'
import { bearer } from './schemas.ts'

export const SessionIdParams = z.object({
  id: z
    .string()
    .regex(SESSION_ID, '1 to 64 letters, digits, _ or -')
    .openapi({ param: { name: 'id', in: 'path' }, example: 'sales' }),
})

export interface ScopedRoute {
  method: 'get' | 'post' | 'delete'
  /** After the session's base path, with its own `{params}`. */
  sub: string
  tags: string[]
  summary: string
  /** Only an admin may call it. */
  admin: boolean
  params?: z.ZodObject
  query?: z.ZodObject
  body?: z.ZodType
  headers?: z.ZodObject
  responses: Record<number, unknown>
}

export const requireAdmin = (c: Context<ApiEnv>) => {
  if (c.get('user').role !== 'admin') throw new ForbiddenError('only an admin may do this')
}

/**
 * @example
 * scoped(app, { method: 'get', sub: '/queue/stats', … }, (c, sessionId) => c.json(stats(sessionId)))
 */
export const scoped = (
  app: OpenAPIHono<ApiEnv>,
  def: ScopedRoute,
  handler: (c: Context<ApiEnv>, sessionId: string) => Promise<Response> | Response,
) => {
  const request = (params?: z.ZodObject) => ({
    ...(params ? { params } : {}),
    ...(def.query ? { query: def.query } : {}),
    ...(def.headers ? { headers: def.headers } : {}),
    ...(def.body ? { body: { content: { 'application/json': { schema: def.body } }, required: true } } : {}),
  })
  const shared = {
    method: def.method,
    tags: def.tags,
    summary: def.summary,
    security: bearer,
    responses: def.responses,
  }
  const run = async (c: Context<ApiEnv>, sessionId: string) => {
    if (def.admin) requireAdmin(c)
    return await handler(c, sessionId)
  }
  const withSession = def.params ? SessionIdParams.extend(def.params.shape) : SessionIdParams
  app.openapi(
    createRoute({
      ...shared,
      path: `/api/whatsapp${def.sub}`,
      request: request(def.params),
    } as Parameters<typeof createRoute>[0]),
    (c) => run(c as unknown as Context<ApiEnv>, DEFAULT_SESSION) as never,
  )
  app.openapi(
    createRoute({
      ...shared,
      path: `/api/sessions/{id}${def.sub}`,
      request: request(withSession),
    } as Parameters<typeof createRoute>[0]),
    (c) => run(c as unknown as Context<ApiEnv>, c.req.param('id') as string) as never,
  )
}
