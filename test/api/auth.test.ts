import { createHmac } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { ADMIN, jsonOf, openTestApi, SECRET } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const opened: Awaited<ReturnType<typeof openTestApi>>[] = []
afterEach(async () => {
  for (const a of opened.splice(0)) await a.close()
})
const open = async () => {
  const api = await openTestApi(tempDir())
  opened.push(api)
  return api
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const handMade = (header: object, claims: object, secret = SECRET, alg = 'sha256') => {
  const head = `${b64(header)}.${b64(claims)}`
  const sig = createHmac(alg, secret).update(head).digest('base64url')
  return `${head}.${sig}`
}

const PROTECTED = ['/api/whatsapp/status', '/api/events', '/api/events/stream']

describe('login', () => {
  it('answers a token pair and the user for the right credentials', async () => {
    const api = await open()
    const res = await api.post('/api/auth/login', ADMIN)
    expect(res.status).toBe(200)
    const body = await jsonOf(res)
    expect(body).toMatchObject({ expiresIn: 900, user: { email: ADMIN.email, role: 'admin' } })
    expect(body.token.split('.')).toHaveLength(3)
    expect(body.refreshToken).toMatch(/^rt_/)
    expect((await api.get('/api/whatsapp/status', body.token)).status).toBe(200)
  })

  it('accepts the email in any case', async () => {
    const api = await open()
    const res = await api.post('/api/auth/login', { ...ADMIN, email: ' Admin@Example.COM ' })
    expect(res.status).toBe(200)
  })

  it('refuses a wrong password or an unknown email with the same 401', async () => {
    const api = await open()
    const wrong = await api.post('/api/auth/login', { ...ADMIN, password: 'not the password' })
    const unknown = await api.post('/api/auth/login', { email: 'who@example.com', password: 'whatever1' })
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401)
      expect(await jsonOf(res)).toEqual({
        success: false,
        error: { code: 'UNAUTHORIZED', message: 'wrong email or password', details: null },
      })
    }
  })

  it('throttles repeated failures for one email with 429 and Retry-After, and lets it in after the lock', async () => {
    const api = await open()
    for (let i = 0; i < 5; i++) {
      expect((await api.post('/api/auth/login', { ...ADMIN, password: `wrong-${i}` })).status).toBe(401)
    }
    const locked = await api.post('/api/auth/login', ADMIN)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(0)
    expect(await jsonOf(locked)).toMatchObject({ success: false, error: { code: 'TOO_MANY_REQUESTS' } })
    api.clock.advance(15 * 60_000 + 1000)
    expect((await api.post('/api/auth/login', ADMIN)).status).toBe(200)
  })

  it('throttles one address trying many emails', async () => {
    const api = await open()
    for (let i = 0; i < 5; i++) {
      await api.post('/api/auth/login', { email: `guess${i}@example.com`, password: 'password1' })
    }
    expect((await api.post('/api/auth/login', { email: 'other@example.com', password: 'x' })).status).toBe(
      429,
    )
  })
})

describe('refresh tokens', () => {
  it('rotates: a refresh answers a new pair and spends the old refresh token', async () => {
    const api = await open()
    const first = await api.login()
    const res = await api.post('/api/auth/refresh', { refreshToken: first.refreshToken })
    expect(res.status).toBe(200)
    const second = await jsonOf(res)
    expect(second.refreshToken).not.toBe(first.refreshToken)
    expect((await api.get('/api/whatsapp/status', second.token)).status).toBe(200)
  })

  it('treats reuse of a spent refresh token as theft: 401, and the whole family is revoked', async () => {
    const api = await open()
    const first = await api.login()
    const second = await jsonOf(await api.post('/api/auth/refresh', { refreshToken: first.refreshToken }))
    const reuse = await api.post('/api/auth/refresh', { refreshToken: first.refreshToken })
    expect(reuse.status).toBe(401)
    expect(await jsonOf(reuse)).toMatchObject({ error: { code: 'REFRESH_TOKEN_REUSED' } })
    const newest = await api.post('/api/auth/refresh', { refreshToken: second.refreshToken })
    expect(newest.status).toBe(401)
  })

  it('refuses an unknown refresh token', async () => {
    const api = await open()
    expect((await api.post('/api/auth/refresh', { refreshToken: 'rt_nothing' })).status).toBe(401)
  })

  it('logout revokes the refresh token; logging out needs an access token', async () => {
    const api = await open()
    const pair = await api.login()
    expect((await api.post('/api/auth/logout', { refreshToken: pair.refreshToken })).status).toBe(401)
    const res = await api.post(
      '/api/auth/logout',
      { refreshToken: pair.refreshToken },
      { Authorization: `Bearer ${pair.token}` },
    )
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ success: true })
    expect((await api.post('/api/auth/refresh', { refreshToken: pair.refreshToken })).status).toBe(401)
    // A token that is not the caller's: their access token is fine, so a 400 and no WWW-Authenticate.
    const fresh = await api.login()
    const unknown = await api.post(
      '/api/auth/logout',
      { refreshToken: 'rt_nothing' },
      { Authorization: `Bearer ${fresh.token}` },
    )
    expect(unknown.status).toBe(400)
    expect(unknown.headers.get('WWW-Authenticate')).toBeNull()
    expect(await jsonOf(unknown)).toMatchObject({ error: { code: 'REFRESH_TOKEN_INVALID' } })
  })
})

describe('access tokens on every protected route', () => {
  const now = () => Math.floor(Date.parse('2026-01-05T08:00:00.000Z') / 1000)

  it('refuses a missing or malformed Authorization header', async () => {
    const api = await open()
    for (const path of PROTECTED) {
      const none = await api.app.request(path)
      expect(none.status).toBe(401)
      expect(none.headers.get('WWW-Authenticate')).toBe('Bearer')
      expect(await jsonOf(none)).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } })
      const basic = await api.app.request(path, { headers: { Authorization: 'Basic YTpi' } })
      expect(basic.status).toBe(401)
    }
  })

  it('reads the scheme name in any case, as HTTP does', async () => {
    const api = await open()
    const { token } = await api.login()
    for (const scheme of ['bearer', 'BEARER', 'Bearer'])
      expect(
        (await api.app.request('/api/whatsapp/status', { headers: { Authorization: `${scheme} ${token}` } }))
          .status,
      ).toBe(200)
  })

  it('refuses expired, tampered, alg:none, wrong-secret, other-algorithm and exp-less tokens', async () => {
    const api = await open()
    const { token } = await api.login()
    const user = api.users.findByEmail(ADMIN.email)
    const claims = {
      sub: user?.id,
      email: ADMIN.email,
      role: 'admin',
      iat: now(),
      exp: now() + 900,
      jti: 'x',
    }
    const [head, body, sig] = token.split('.')
    const tampered = `${head}.${b64({ ...JSON.parse(Buffer.from(body ?? '', 'base64url').toString()), role: 'admin', sub: 'someone' })}.${sig}`
    const bad = {
      tampered,
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      wrongSecret: handMade({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-another-secret-123456'),
      hs512: handMade({ alg: 'HS512', typ: 'JWT' }, claims, SECRET, 'sha512'),
      noExp: handMade({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: undefined }),
      garbage: 'not.a.jwt',
    }
    // The hand-made token with the right secret is accepted, so the refusals below are for their flaw.
    const good = handMade({ alg: 'HS256', typ: 'JWT' }, claims)
    expect((await api.get('/api/whatsapp/status', good)).status).toBe(200)
    for (const [name, t] of Object.entries(bad)) {
      for (const path of PROTECTED) {
        const res = await api.get(path, t)
        expect({ name, path, status: res.status }).toEqual({ name, path, status: 401 })
        expect((await jsonOf(res)).success).toBe(false)
      }
    }
    api.clock.advance(901_000)
    for (const path of PROTECTED) expect((await api.get(path, token)).status).toBe(401)
  })

  it('stops accepting the tokens of a deleted user', async () => {
    const api = await open()
    const { token, refreshToken } = await api.login()
    api.users.remove(ADMIN.email)
    expect((await api.get('/api/whatsapp/status', token)).status).toBe(401)
    expect((await api.post('/api/auth/refresh', { refreshToken })).status).toBe(401)
  })
})
