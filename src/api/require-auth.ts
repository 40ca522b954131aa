// Bearer-token authentication for the protected routes: a valid, unexpired access token of a user
// who still exists, or 401.
import type { MiddlewareHandler } from 'hono'
import { decode } from 'hono/jwt'
import { UnauthorizedError } from '../errors.ts'
import type { ApiEnv, AuthDeps } from './deps.ts'

const BEARER = /^Bearer ([A-Za-z0-9\-_.=+/]+)$/i

/**
 * @example
 * app.use('/api/whatsapp/*', requireAuth(auth))
 */
export const requireAuth =
  (auth: AuthDeps): MiddlewareHandler<ApiEnv> =>
  async (c, next) => {
    const header = c.req.header('Authorization')
    if (header === undefined)
      throw new UnauthorizedError('an Authorization: Bearer <token> header is required')
    const match = BEARER.exec(header.trim())
    if (!match?.[1]) throw new UnauthorizedError('the Authorization header must be "Bearer <token>"')
    const token = match[1]
    const claims = await auth.tokens.verifyAccess(token)
    c.set('user', { id: claims.userId, email: claims.email, role: claims.role })
    c.set('access', {
      // Read only by the routes that ask (event streams); the token's payload was verified just above.
      expiresAt: () => (decode(token).payload.exp ?? 0) * 1000,
      refusal: () => auth.tokens.refusalOf(claims.userId, claims.issuedAt),
    })
    await next()
  }
