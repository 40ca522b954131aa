// Bearer-token authentication for the protected routes: a valid, unexpired access token of a user
// who still exists, or 401.
import type { MiddlewareHandler } from 'hono'
import { UnauthorizedError } from '../errors.ts'
import type { ApiEnv, AuthDeps } from './deps.ts'

const BEARER = /^Bearer ([A-Za-z0-9\-_.=+/]+)$/

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
    const claims = await auth.tokens.verifyAccess(match[1])
    c.set('user', { id: claims.userId, email: claims.email, role: claims.role })
    await next()
  }
