// The HTTP app over a real core and real auth (SQLite file in a temp folder, fake clock), for
// app.request() tests, with a logged-in admin.
import { createApp } from '../../src/api/app.ts'
import type { ApiDeps } from '../../src/api/deps.ts'
import { createLoginThrottle } from '../../src/auth/login-throttle.ts'
import { createTokenService } from '../../src/auth/tokens.ts'
import { createUserStore } from '../../src/auth/users.ts'
import { ulidSource } from '../../src/ids.ts'
import { createFakeClock } from './fake-clock.ts'
import { openTestCore } from './store.ts'

export const SECRET = 'test-secret-that-is-long-enough-0123456789'
export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery' }

export const openTestApi = async (
  dir: string,
  options: Pick<ApiDeps, 'bodyLimitBytes' | 'log' | 'accessLog'> = {},
) => {
  const clock = createFakeClock()
  const core = openTestCore(dir, { clock })
  const newId = ulidSource(clock)
  const users = createUserStore({ db: core.db, clock, newId, bcryptCost: 10 })
  const tokens = createTokenService({ db: core.db, users, secret: SECRET, clock, newId })
  const throttle = createLoginThrottle({ clock })
  const app = createApp({
    db: core.db,
    store: core.store,
    clock,
    auth: { users, tokens, throttle },
    ...options,
  })
  await users.add({ ...ADMIN, role: 'admin' })
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const login = async (credentials = ADMIN) => {
    const res = await post('/api/auth/login', credentials)
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`)
    return (await res.json()) as { token: string; refreshToken: string; expiresIn: number }
  }
  const get = (path: string, token?: string) =>
    app.request(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {})
  return { app, core, clock, users, tokens, post, get, login, close: () => core.close() }
}

/** A response's JSON body, for assertions to look into. */
// biome-ignore lint/suspicious/noExplicitAny: the assertions that read the body check its shape
export const jsonOf = async (res: Response): Promise<any> => res.json()
