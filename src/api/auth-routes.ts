// POST /api/auth/login, /refresh and /logout: access tokens, rotating refresh tokens, throttled logins.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { createPasswordCheckLimit } from '../auth/password-check-limit.ts'
import { UnauthorizedError } from '../errors.ts'
import { clientAddress, throttleKeyOf } from './client-address.ts'
import type { ApiEnv, AuthDeps, AuthUser } from './deps.ts'
import { requireAuth } from './require-auth.ts'
import { bearer, errors } from './schemas.ts'

const Credentials = z
  .object({
    email: z.string().trim().min(1).max(254).openapi({ example: 'admin@example.com' }),
    password: z.string().min(1).max(1024).openapi({ example: 'correct horse battery staple' }),
  })
  .openapi('Credentials')

const RefreshBody = z.object({ refreshToken: z.string().min(1).max(512) }).openapi('RefreshRequest')

const TokenPair = z
  .object({
    token: z.string().openapi({ description: 'HS256 access token for Authorization: Bearer' }),
    refreshToken: z.string().openapi({ description: 'single use; every refresh returns a new one' }),
    expiresIn: z.number().int().openapi({ description: 'seconds until the access token expires' }),
    user: z.object({ id: z.string(), email: z.string(), role: z.enum(['admin', 'sender']) }),
  })
  .openapi('TokenPair')

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })

const login = createRoute({
  method: 'post',
  path: '/api/auth/login',
  tags: ['auth'],
  summary: 'Exchange email and password for an access token and a refresh token',
  request: { body: { ...json(Credentials), required: true } },
  responses: { 200: { description: 'Logged in', ...json(TokenPair) }, ...errors(400, 401, 415, 429) },
})

const refresh = createRoute({
  method: 'post',
  path: '/api/auth/refresh',
  tags: ['auth'],
  summary: 'Spend a refresh token for a new pair; reusing a spent one revokes its whole family',
  request: { body: { ...json(RefreshBody), required: true } },
  responses: { 200: { description: 'A new pair', ...json(TokenPair) }, ...errors(400, 401, 415) },
})

const logout = createRoute({
  method: 'post',
  path: '/api/auth/logout',
  tags: ['auth'],
  summary: 'Revoke a refresh token and its family',
  security: bearer,
  request: { body: { ...json(RefreshBody), required: true } },
  responses: {
    200: { description: 'Logged out', ...json(z.object({ success: z.literal(true) })) },
    ...errors(400, 401, 415),
  },
})

/**
 * @example
 * app.route('/', authRoutes(auth))
 */
export const authRoutes = (auth: AuthDeps) => {
  const app = new OpenAPIHono<ApiEnv>()
  const passwordChecks = auth.passwordChecks ?? createPasswordCheckLimit()
  app.openapi(login, async (c) => {
    const { email, password } = c.req.valid('json')
    // Counted before the password is checked, so that attempts made at once all count.
    const attempt = auth.throttle.begin(email, throttleKeyOf(clientAddress(c, auth.trustedProxies)))
    let user: AuthUser | null
    try {
      user = await passwordChecks.run(() => auth.users.authenticate(email, password))
    } catch (err) {
      attempt.release()
      throw err
    }
    if (!user) {
      attempt.fail()
      throw new UnauthorizedError('wrong email or password')
    }
    attempt.succeed()
    const pair = await auth.tokens.issue(user)
    return c.json({ ...pair, user: { id: user.id, email: user.email, role: user.role } }, 200)
  })
  app.openapi(refresh, async (c) => {
    const { refreshToken } = c.req.valid('json')
    const { user, ...pair } = await auth.tokens.refresh(refreshToken)
    return c.json({ ...pair, user: { id: user.id, email: user.email, role: user.role } }, 200)
  })
  app.use('/api/auth/logout', requireAuth(auth))
  app.openapi(logout, async (c) => {
    const { refreshToken } = c.req.valid('json')
    await auth.tokens.logout(refreshToken, c.get('user').id)
    return c.json({ success: true as const }, 200)
  })
  return app
}
