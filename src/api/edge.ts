// What every answer carries and every request leaves behind: a request id (the caller's, when it is a
// sane one, or a new one), the security headers, and one access line in the log.
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { ApiEnv, ApiLog } from './deps.ts'

/**
 * The headers of a JSON API that is never framed, never sniffed and never sends a referrer. A route
 * that sets one of them itself keeps its own value.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Origin-Agent-Cluster': '?1',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=15552000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
  'X-DNS-Prefetch-Control': 'off',
  'X-Download-Options': 'noopen',
  'X-Frame-Options': 'SAMEORIGIN',
  'X-Permitted-Cross-Domain-Policies': 'none',
  'X-XSS-Protection': '0',
}

const SECURITY_HEADER_ENTRIES = Object.entries(SECURITY_HEADERS)

/** A caller's request id is echoed when it is short and plain; anything else gets a new one. */
const CALLER_REQUEST_ID = /^[\w\-=]{1,128}$/

/** The Node response under a request served by @hono/node-server; undefined under `app.request()`. */
const nodeResponseOf = (env: unknown): ServerResponse | undefined => {
  const outgoing = (env as { outgoing?: ServerResponse } | undefined)?.outgoing
  return typeof outgoing?.setHeader === 'function' && !outgoing.headersSent ? outgoing : undefined
}

/**
 * @example
 * app.use(edge(log))
 */
export const edge =
  (
    access?: ApiLog,
    observe?: (method: string, route: string, status: number, seconds: number) => void,
  ): MiddlewareHandler<ApiEnv> =>
  async (c, next) => {
    const started = performance.now()
    const given = c.req.header('X-Request-Id')
    const requestId = given !== undefined && CALLER_REQUEST_ID.test(given) ? given : randomUUID()
    c.set('requestId', requestId)
    // Served by Node: the headers go on the Node response, under whatever the route answers (Node merges
    // them, the route's own winning), which costs a fraction of editing the web Response's headers.
    const outgoing = nodeResponseOf(c.env)
    if (outgoing) {
      for (const [name, value] of SECURITY_HEADER_ENTRIES) outgoing.setHeader(name, value)
      outgoing.setHeader('X-Request-Id', requestId)
    }
    await next()
    if (!outgoing) {
      const headers = c.res.headers
      for (const [name, value] of SECURITY_HEADER_ENTRIES) if (!headers.has(name)) headers.set(name, value)
      headers.set('X-Request-Id', requestId)
    }
    const ms = performance.now() - started
    access?.info(
      {
        reqId: requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(ms * 10) / 10,
      },
      'request',
    )
    if (observe) {
      // The route's pattern, never the path itself: no ids or numbers in metric labels.
      const pattern = routePath(c, -1)
      observe(c.req.method, pattern.includes('*') ? 'unmatched' : pattern, c.res.status, ms / 1000)
    }
  }
