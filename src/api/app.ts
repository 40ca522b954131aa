// The HTTP app: a factory over its dependencies. Validation at the edge, one error shape, the OpenAPI
// document made from the same schemas that validate.

import { swaggerUI } from '@hono/swagger-ui'
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { authRoutes } from './auth-routes.ts'
import { dashboardRoutes } from './dashboard-routes.ts'
import type { ApiDeps, ApiEnv } from './deps.ts'
import { edge } from './edge.ts'
import { errorBody, toErrorResponse } from './errors.ts'
import { eventRoutes } from './event-routes.ts'
import { jobRoutes } from './job-routes.ts'
import { machineRoutes } from './machine-routes.ts'
import { carriesBody, declaredLength, nodeRequestOf, readNodeBody, utf8 } from './node-body.ts'
import { queueRoutes } from './queue-routes.ts'
import { requireAuth } from './require-auth.ts'
import { sessionRoutes } from './session-routes.ts'

export { errorBody } from './errors.ts'

/** 1 MiB: a WhatsApp text is at most 65,536 characters, well inside it. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024

/** A route's path (`/api/sessions/:id/status`) as a pattern matching the paths it serves. */
const routePattern = (path: string): RegExp =>
  new RegExp(
    `^${path
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}$`,
  )

/** The swagger-ui-dist release /docs loads. */
export const SWAGGER_UI_VERSION = '5.35.0'

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i

/** A request with a body must send it as JSON (415 otherwise); bodiless POSTs are fine. */
const jsonBodiesOnly: MiddlewareHandler = async (c, next) => {
  const method = c.req.method
  if (method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE') {
    // Under Node, HTTP/1.1 decides: a request with neither a length nor a chunked encoding has no body
    // (curl -X POST sends such requests). Elsewhere the web Request says.
    const incoming = nodeRequestOf(c.env)
    const length = c.req.header('Content-Length')
    const hasBody = incoming
      ? carriesBody(incoming)
      : length === undefined
        ? c.req.header('Transfer-Encoding') !== undefined || c.req.raw.body !== null
        : length !== '0'
    const media = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim() ?? ''
    const encoding = (c.req.header('Content-Encoding') ?? 'identity').trim().toLowerCase()
    if (hasBody && encoding !== 'identity' && encoding !== '') {
      return c.json(
        errorBody('UNSUPPORTED_MEDIA_TYPE', 'send the request body as plain JSON, not encoded', {
          contentEncoding: encoding.slice(0, 64),
        }),
        415,
      )
    }
    if (hasBody && !JSON_MEDIA.test(media)) {
      return c.json(
        errorBody('UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json', {
          contentType: media || null,
        }),
        415,
      )
    }
  }
  await next()
  return undefined
}

const health = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['meta'],
  summary: 'Liveness: 200 while the process serves and its database answers',
  responses: {
    200: {
      description: 'Serving',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
  },
})

/**
 * @example
 * const app = createApp({ db, store, clock, auth })
 * const res = await app.request('/healthz')
 */
export const createApp = (deps: ApiDeps) => {
  const { db, store, clock, auth, log } = deps
  const app = new OpenAPIHono<ApiEnv>({
    // Schema failures of body, query, params and headers: 400 in the one error shape.
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({
          path: i.path.map(String).join('.'),
          message: i.message,
        }))
        const first = issues[0]
        const message = first ? `${first.path || 'request'}: ${first.message}` : 'invalid request'
        return c.json(errorBody('VALIDATION_ERROR', message, { target: result.target, issues }), 400)
      }
      return undefined
    },
  })

  const metrics = deps.metrics
  app.use(edge(deps.accessLog ?? log, metrics ? (...a) => metrics.request(...a) : undefined))
  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...deps.corsOrigins],
        // What a browser client sends and reads: idempotency keys, resuming a stream, request ids,
        // the next page's link and how long to wait.
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'],
        exposeHeaders: ['Link', 'Retry-After', 'X-Request-Id', 'WWW-Authenticate'],
      }),
    )
  }
  const maxBodyBytes = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES
  const tooLarge = (c: Context) =>
    c.json(errorBody('PAYLOAD_TOO_LARGE', `request body over ${maxBodyBytes} bytes`), 413)
  const limitBody = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge })
  // GET and HEAD carry no body here; asking for one would build the full web Request for nothing. Under
  // Node, a declared length over the limit is refused before anything is read, and the body itself is
  // read below, counted as it comes.
  app.use('/api/*', (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const incoming = nodeRequestOf(c.env)
    if (!incoming) return limitBody(c, next)
    return (declaredLength(incoming) ?? 0) > maxBodyBytes ? Promise.resolve(tooLarge(c)) : next()
  })
  app.use('/api/*', jsonBodiesOnly)
  app.use('/api/*', async (c, next) => {
    const incoming = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : nodeRequestOf(c.env)
    if (incoming && carriesBody(incoming)) {
      const read = await readNodeBody(incoming, maxBodyBytes)
      if (!read.ok && read.reason === 'too-large') {
        c.header('Connection', 'close')
        return tooLarge(c)
      }
      if (!read.ok) {
        return c.json(errorBody('MALFORMED_JSON', 'the request body ended before its end'), 400)
      }
      // Hono keeps the promise of each body form under its name (its type says otherwise).
      ;(c.req.bodyCache as Record<string, Promise<unknown>>)['text'] = Promise.resolve(
        utf8.decode(read.bytes),
      )
    }
    await next()
    return undefined
  })

  if (metrics) {
    app.openapi(
      createRoute({
        method: 'get',
        path: '/metrics',
        tags: ['meta'],
        summary: 'Prometheus metrics (text exposition format)',
        responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } } },
      }),
      async (c) => c.text(await metrics.text(), 200, { 'Content-Type': metrics.contentType }),
    )
  }

  const ping = db.prepare('SELECT 1').pluck()
  app.openapi(health, (c) => {
    ping.get()
    return c.json({ status: 'ok' as const }, 200)
  })

  app.route('/', authRoutes(auth))
  app.use('/api/whatsapp/*', requireAuth(auth))
  app.use('/api/sessions', requireAuth(auth))
  app.use('/api/sessions/*', requireAuth(auth))
  app.use('/api/events', requireAuth(auth))
  app.use('/api/events/*', requireAuth(auth))
  app.use('/api/machines', requireAuth(auth))
  app.use('/api/machines/*', requireAuth(auth))
  app.use('/api/streams/*', requireAuth(auth))
  app.route(
    '/',
    jobRoutes({
      db,
      commands: deps.commands,
      sessions: deps.sessions,
      newId: deps.newId,
      clock,
      defaultCountryCode: deps.defaultCountryCode ?? '62',
      ...(log ? { log } : {}),
    }),
  )
  app.route(
    '/',
    queueRoutes({
      db,
      store,
      commands: deps.commands,
      sessions: deps.sessions,
      clock,
      dataDir: deps.dataDir,
    }),
  )
  app.route(
    '/',
    sessionRoutes({
      db,
      sessions: deps.sessions,
      ...(deps.simulator ? { simulator: deps.simulator } : {}),
    }),
  )
  app.route(
    '/',
    eventRoutes({
      store,
      clock,
      ...(deps.sseHeartbeatMs ? { heartbeatMs: deps.sseHeartbeatMs } : {}),
      ...(deps.shutdown ? { shutdown: deps.shutdown } : {}),
      ...(metrics ? { metrics: metrics.streams } : {}),
    }),
  )

  app.route('/', machineRoutes({ store }))
  dashboardRoutes(app)

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['meta'],
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['meta'],
    summary: 'Swagger UI over this document',
    responses: { 200: { description: 'HTML page' } },
  })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Kurir',
      version: '0.1.0',
      description: 'WhatsApp HTTP gateway: durable queue, retries, sessions that recover by themselves.',
    },
  })
  // A fixed release of Swagger UI from the CDN, so the page does not change under the gateway.
  app.get('/docs', swaggerUI({ url: '/openapi.json', version: SWAGGER_UI_VERSION }))

  // A path the app serves, asked with another method: 405 with the methods it takes.
  let routeTable: { method: string; pattern: RegExp }[] | null = null
  const methodsFor = (path: string): string[] => {
    routeTable ??= [
      ...new Map(
        app.routes
          .filter((r) => r.method !== 'ALL')
          .map((r) => [`${r.method} ${r.path}`, { method: r.method, pattern: routePattern(r.path) }]),
      ).values(),
    ]
    return [...new Set(routeTable.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort()
  }
  app.notFound((c) => {
    const allowed = methodsFor(c.req.path)
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '))
      return c.json(
        errorBody('METHOD_NOT_ALLOWED', `${c.req.method} is not served at ${c.req.path}`, { allowed }),
        405,
      )
    }
    return c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), 404)
  })
  app.onError((err, c) => toErrorResponse(err, c, log))
  return app
}

export type App = ReturnType<typeof createApp>
