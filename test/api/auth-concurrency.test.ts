import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/api/app.ts'
import type { AuthDeps } from '../../src/api/deps.ts'
import { createLoginThrottle } from '../../src/auth/login-throttle.ts'
import { createPasswordCheckLimit } from '../../src/auth/password-check-limit.ts'
import { ulidSource } from '../../src/ids.ts'
import { ADMIN, jsonOf, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const opened: Awaited<ReturnType<typeof openTestApi>>[] = []
afterEach(async () => {
  for (const a of opened.splice(0)) await a.close()
})

type App = ReturnType<typeof createApp>

/** A login as sent from `address`: the bindings @hono/node-server gives a request from a socket. */
const login = async (app: App, credentials: { email: string; password: string }, address: string) =>
  app.request(
    '/api/auth/login',
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(credentials),
    },
    { incoming: { socket: { remoteAddress: address } } },
  )

const addressOf = (i: number) => `10.1.${i >> 8}.${i & 255}`

/** Turns of the event loop, no timer waited for, until `done` holds (at most 100 of them). */
const until = async (done: () => boolean) => {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((next) => setImmediate(next))
}

/** A promise's outcome, readable before it settles. */
const watch = <T>(p: Promise<T>) => {
  const state: { done: boolean; value?: T } = { done: false }
  void p.then((value) => Object.assign(state, { done: true, value }))
  return state
}

/** The users of the API whose password checks end when the test says, counting how many run at once. */
const heldPasswordChecks = () => {
  const ends: (() => void)[] = []
  const emails: string[] = []
  let running = 0
  let most = 0
  const users: AuthDeps['users'] = {
    authenticate(email) {
      emails.push(email)
      running++
      most = Math.max(most, running)
      return new Promise((resolve) =>
        ends.push(() => {
          running--
          resolve(null)
        }),
      )
    },
    findById: () => null,
  }
  return {
    users,
    emails,
    running: () => running,
    most: () => most,
    /** Ends the longest-running check as a wrong password. */
    endOne: () => ends.shift()?.(),
  }
}

const open = async () => {
  const dir = tempDir()
  const api = await openTestApi(dir)
  opened.push(api)
  /** The same API over other auth dependencies. */
  const withAuth = (auth: AuthDeps) =>
    createApp({
      db: api.core.db,
      store: api.core.store,
      clock: api.clock,
      auth,
      commands: api.core.commands,
      newId: ulidSource(api.clock),
      sessions: api.sessions,
      dataDir: dir,
    })
  return { ...api, withAuth }
}

const statuses = (responses: Response[]) => {
  const count: Record<number, number> = {}
  for (const res of responses) count[res.status] = (count[res.status] ?? 0) + 1
  return count
}

const expectRetryLater = async (res: Response, seconds?: number) => {
  expect(res.status).toBe(429)
  const retryAfter = Number(res.headers.get('Retry-After'))
  if (seconds === undefined) expect(retryAfter).toBeGreaterThan(0)
  else expect(retryAfter).toBe(seconds)
  const body = await jsonOf(res)
  expect(body).toMatchObject({ success: false, error: { code: 'TOO_MANY_REQUESTS' } })
  return body
}

describe('logins sent at once', () => {
  it.each([
    [
      'wrong passwords for one email from one address',
      (i: number) => ({ ...ADMIN, password: `wrong-${i}` }),
      () => '198.51.100.9',
    ],
    [
      'wrong passwords for one email from 200 addresses',
      (i: number) => ({ ...ADMIN, password: `wrong-${i}` }),
      addressOf,
    ],
    [
      'guesses at 200 emails from one address',
      (i: number) => ({ email: `guess${i}@example.com`, password: 'password1' }),
      () => '203.0.113.7',
    ],
  ])(
    'of 200 %s, at most 5 are checked; the rest answer 429 with Retry-After',
    async (_, credentials, address) => {
      const api = await open()
      const responses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => login(api.app, credentials(i), address(i))),
      )
      expect(statuses(responses)).toEqual({ 401: 5, 429: 195 })
      for (const res of responses.filter((r) => r.status === 429)) await expectRetryLater(res)
      // The email, or the address, is then locked for the throttle's 15 minutes, even to the right password.
      await expectRetryLater(await login(api.app, ADMIN, address(0)), 15 * 60)
    },
  )

  it('still lets the right password in, and clears the email failures, once the others are done', async () => {
    const api = await open()
    const wrong = await Promise.all(
      [1, 2, 3].map((i) => login(api.app, { ...ADMIN, password: `wrong-${i}` }, addressOf(i))),
    )
    expect(statuses(wrong)).toEqual({ 401: 3 })
    expect((await login(api.app, ADMIN, addressOf(4))).status).toBe(200)
    const again = await Promise.all(
      [5, 6, 7, 8].map((i) => login(api.app, { ...ADMIN, password: `wrong-${i}` }, addressOf(i))),
    )
    expect(statuses(again)).toEqual({ 401: 4 })
    expect((await login(api.app, ADMIN, addressOf(9))).status).toBe(200)
  })
})

describe('password checks across the process', () => {
  /** An app whose password checks end only when the test says, under the given bound. */
  const withHeldChecks = async (bound: { maxRunning: number; maxWaiting: number }) => {
    const api = await open()
    const checks = heldPasswordChecks()
    const app = api.withAuth({
      users: checks.users,
      tokens: api.tokens,
      throttle: createLoginThrottle({ clock: api.clock }),
      passwordChecks: createPasswordCheckLimit(bound),
    })
    return { api, checks, app }
  }

  it('runs no more than the bound at once, and answers logins past a full line 429 with Retry-After at once', async () => {
    const { checks, app } = await withHeldChecks({ maxRunning: 2, maxWaiting: 3 })
    const sent = Array.from({ length: 30 }, (_, i) =>
      login(app, { email: `user${i}@example.com`, password: 'password1' }, addressOf(i)),
    )
    const outcomes = sent.map(watch)
    const answered = () => outcomes.filter((o) => o.done)
    await until(() => answered().length === 25 && checks.running() === 2)

    expect(answered()).toHaveLength(25)
    expect(checks.running()).toBe(2)
    for (const o of answered()) {
      expect((await expectRetryLater(o.value as Response, 1)).error).toEqual({
        code: 'TOO_MANY_REQUESTS',
        message: 'too many sign-ins are being checked; try again in 1 s',
        details: { retryAfterSeconds: 1 },
      })
    }
    // Each check that ends lets the next in line start, and never a third beside the two.
    for (const [started, running] of [
      [3, 2],
      [4, 2],
      [5, 2],
      [5, 1],
    ]) {
      checks.endOne()
      await until(() => checks.emails.length === started && checks.running() === running)
      expect([checks.emails.length, checks.running()]).toEqual([started, running])
    }
    checks.endOne()
    expect(checks.most()).toBe(2)
    expect(checks.emails).toHaveLength(5)
    expect(statuses(await Promise.all(sent))).toEqual({ 401: 5, 429: 25 })
  })

  it('does not count a login refused for a full line against its email or address', async () => {
    const { checks, app } = await withHeldChecks({ maxRunning: 1, maxWaiting: 0 })
    const holding = login(app, { email: 'first@example.com', password: 'password1' }, '192.0.2.1')
    await until(() => checks.running() === 1)
    const guess = { email: 'ops@example.com', password: 'password1' }
    for (let i = 0; i < 6; i++) {
      const refused = watch(login(app, guess, '203.0.113.7'))
      await until(() => refused.done)
      expect(refused.done).toBe(true)
      const body = await expectRetryLater(refused.value as Response, 1)
      expect(body.error.message).toMatch(/being checked/)
    }
    checks.endOne()
    expect((await holding).status).toBe(401)
    const after = login(app, guess, '203.0.113.7')
    await until(() => checks.running() === 1)
    expect(checks.emails).toEqual(['first@example.com', 'ops@example.com'])
    checks.endOne()
    expect((await after).status).toBe(401)
  })

  it('checks unknown emails, with their stand-in comparison, within the same bound as known ones', async () => {
    const api = await open()
    let running = 0
    let most = 0
    const app = api.withAuth({
      users: {
        async authenticate(email, password) {
          running++
          most = Math.max(most, running)
          try {
            return await api.users.authenticate(email, password)
          } finally {
            running--
          }
        },
        findById: (id) => api.users.findById(id),
      },
      tokens: api.tokens,
      throttle: createLoginThrottle({ clock: api.clock }),
      passwordChecks: createPasswordCheckLimit({ maxRunning: 2, maxWaiting: 20 }),
    })
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        login(
          app,
          i % 3 === 0
            ? { ...ADMIN, password: `wrong-${i}` }
            : { email: `nobody${i}@example.com`, password: 'password1' },
          addressOf(i),
        ),
      ),
    )
    expect(statuses(responses)).toEqual({ 401: 12 })
    expect(most).toBe(2)
  })
})
