import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { decode, sign } from 'hono/jwt'
import { describe, expect, it } from 'vitest'
import { MIN_BCRYPT_COST } from '../../src/auth/passwords.ts'
import { createTokenService } from '../../src/auth/tokens.ts'
import { createUserStore, type User } from '../../src/auth/users.ts'
import { type Db, openDatabase } from '../../src/eventlog/database.ts'
import { ulidSource } from '../../src/ids.ts'
import { createFakeClock, type FakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const SECRET = 'a test secret of at least thirty-two characters'
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

const setup = async (clock: FakeClock = createFakeClock()) => {
  const dir = tempDir()
  const core = openTestCore(dir, { clock })
  const newId = ulidSource(clock)
  const users = createUserStore({ db: core.db, clock, newId, bcryptCost: MIN_BCRYPT_COST, warmUp: false })
  const tokens = createTokenService({ db: core.db, users, secret: SECRET, clock, newId })
  const user = await users.add({
    email: 'ops@example.com',
    password: 'correct horse battery',
    role: 'sender',
  })
  return { dir, core, clock, users, tokens, user, newId }
}

const b64 = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url')
const claimsOf = (user: User, clock: FakeClock, extra: Record<string, unknown> = {}) => {
  const iat = Math.floor(clock.now() / 1000)
  return { sub: user.id, email: user.email, role: user.role, iat, exp: iat + 900, jti: 'j1', ...extra }
}
const rejection = async (attempt: Promise<unknown>) => {
  const err = await attempt.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err, 'expected a rejection').not.toBeNull()
  return (err as { code: string }).code
}
const familyOf = (db: Db, refreshToken: string) =>
  db
    .prepare('SELECT family_id FROM refresh_tokens WHERE token_hash = ?')
    .pluck()
    .get(createHash('sha256').update(refreshToken).digest('hex'))

describe('access tokens', () => {
  it('are HS256 JWTs carrying the user and expiring after 15 minutes of the injected clock', async () => {
    const { tokens, user, clock, core } = await setup()
    const pair = await tokens.issue(user)
    expect(pair.expiresIn).toBe(900)
    const { header, payload } = decode(pair.token)
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' })
    const now = Math.floor(clock.now() / 1000)
    expect(payload).toEqual({
      sub: user.id,
      email: 'ops@example.com',
      role: 'sender',
      iat: now,
      exp: now + 900,
      jti: expect.any(String),
    })
    expect(await tokens.verifyAccess(pair.token)).toEqual({
      userId: user.id,
      email: 'ops@example.com',
      role: 'sender',
      issuedAt: now,
    })
    await core.close()
  })

  it('issued before a password change are refused with TOKEN_REVOKED; those issued after it pass', async () => {
    const { core, clock, users, tokens, user } = await setup()
    clock.advance(300)
    const before = await tokens.issue(user)
    clock.advance(400)
    // In the same second as the token above, after it.
    await users.setPassword('ops@example.com', 'a new long password')
    await expect(tokens.verifyAccess(before.token)).rejects.toMatchObject({ code: 'TOKEN_REVOKED' })
    expect(tokens.refusalOf(user.id, decode(before.token).payload.iat as number)).toBe('TOKEN_REVOKED')
    clock.advance(300)
    const after = await tokens.issue(user)
    expect(await tokens.verifyAccess(after.token)).toMatchObject({ userId: user.id })
    expect(tokens.refusalOf(user.id, decode(after.token).payload.iat as number)).toBeNull()
    users.remove('ops@example.com')
    expect(tokens.refusalOf(user.id, decode(after.token).payload.iat as number)).toBe('USER_NOT_FOUND')
    await core.close()
  })

  it('are judged expired by the injected clock, not the machine clock', async () => {
    const { tokens, user, clock, core } = await setup()
    const { token } = await tokens.issue(user)
    clock.advance(899_000)
    await expect(tokens.verifyAccess(token)).resolves.toMatchObject({ userId: user.id })
    clock.advance(1000)
    expect(await rejection(tokens.verifyAccess(token))).toBe('TOKEN_EXPIRED')
    await core.close()
  })

  it('issued in a fake past or future stay valid while that clock says so', async () => {
    for (const start of [Date.parse('2001-01-01T00:00:00Z'), Date.parse('2091-01-01T00:00:00Z')]) {
      const { tokens, user, core } = await setup(createFakeClock(start))
      const { token } = await tokens.issue(user)
      await expect(tokens.verifyAccess(token)).resolves.toMatchObject({ userId: user.id })
      await core.close()
    }
  })

  it('are refused when the signature or the payload was tampered with', async () => {
    const { tokens, user, core } = await setup()
    const { token } = await tokens.issue(user)
    const [header, payload, signature = ''] = token.split('.')
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11)
    expect(await rejection(tokens.verifyAccess(`${header}.${payload}.${flipped}`))).toBe('TOKEN_INVALID')
    const promoted = b64({ ...decode(token).payload, role: 'admin' })
    expect(await rejection(tokens.verifyAccess(`${header}.${promoted}.${signature}`))).toBe('TOKEN_INVALID')
    await core.close()
  })

  it('are remembered once verified by their exact text only: a changed copy of an accepted token is still checked', async () => {
    const { tokens, user, core } = await setup()
    const { token } = await tokens.issue(user)
    await expect(tokens.verifyAccess(token)).resolves.toMatchObject({ userId: user.id })
    const [header, , signature] = token.split('.')
    const forged = `${header}.${b64(claimsOf(user, createFakeClock(), { role: 'admin' }))}.${signature}`
    expect(await rejection(tokens.verifyAccess(forged))).toBe('TOKEN_INVALID')
    await expect(tokens.verifyAccess(token)).resolves.toMatchObject({ userId: user.id })
    await core.close()
  })

  it("refuses an unsigned token with alg 'none'", async () => {
    const { tokens, user, clock, core } = await setup()
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claimsOf(user, clock))}.`
    expect(await rejection(tokens.verifyAccess(unsigned))).toBe('TOKEN_INVALID')
    const none = `${b64({ alg: 'none' })}.${b64(claimsOf(user, clock))}`
    expect(await rejection(tokens.verifyAccess(none))).toBe('TOKEN_INVALID')
    await core.close()
  })

  it('refuses another algorithm with the right secret, and HS256 with the wrong secret', async () => {
    const { tokens, user, clock, core } = await setup()
    const hs512 = await sign(claimsOf(user, clock), SECRET, 'HS512')
    expect(await rejection(tokens.verifyAccess(hs512))).toBe('TOKEN_INVALID')
    const forged = await sign(claimsOf(user, clock), 'another secret of at least thirty-two chars', 'HS256')
    expect(await rejection(tokens.verifyAccess(forged))).toBe('TOKEN_INVALID')
    await core.close()
  })

  it('refuses a correctly signed token without an exp claim', async () => {
    const { tokens, user, clock, core } = await setup()
    const { exp: _exp, ...noExp } = claimsOf(user, clock)
    const token = await sign(noExp, SECRET, 'HS256')
    expect(await rejection(tokens.verifyAccess(token))).toBe('TOKEN_INVALID')
    await core.close()
  })

  it('refuses malformed tokens', async () => {
    const { tokens, core } = await setup()
    for (const token of ['', 'abc', 'a.b.c', 'a.b', '...', `${b64({ alg: 'HS256' })}.%%%.x`]) {
      expect(await rejection(tokens.verifyAccess(token))).toBe('TOKEN_INVALID')
    }
    await core.close()
  })

  it('stop working once their user is removed', async () => {
    const { tokens, users, user, core } = await setup()
    const { token } = await tokens.issue(user)
    users.remove(user.email)
    const err = await tokens.verifyAccess(token).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'USER_NOT_FOUND', name: 'TokenRejectedError' })
    await core.close()
  })
})

describe('refresh tokens', () => {
  it('are opaque and stored only as their SHA-256', async () => {
    const { tokens, user, core } = await setup()
    const { refreshToken } = await tokens.issue(user)
    expect(refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/)
    const rows = core.db.prepare('SELECT * FROM refresh_tokens').all() as Record<string, unknown>[]
    expect(rows).toHaveLength(1)
    expect(JSON.stringify(rows)).not.toContain(refreshToken.slice(3))
    expect(rows[0]).toMatchObject({ user_id: user.id, spent_at: null, revoked_at: null })
    await core.close()
  })

  it('rotate: a refresh gives a new pair of the same family and spends the token presented', async () => {
    const { tokens, user, clock, core } = await setup()
    const first = await tokens.issue(user)
    clock.advance(MINUTE)
    const second = await tokens.refresh(first.refreshToken)
    expect(second.refreshToken).not.toBe(first.refreshToken)
    expect(second.user).toEqual(user)
    expect(await tokens.verifyAccess(second.token)).toMatchObject({ userId: user.id })
    expect(familyOf(core.db, second.refreshToken)).toBe(familyOf(core.db, first.refreshToken))
    const third = await tokens.refresh(second.refreshToken)
    expect(third.refreshToken).not.toBe(second.refreshToken)
    await core.close()
  })

  it('reuse of a spent token revokes its whole family, the newest token included', async () => {
    const { tokens, user, core } = await setup()
    const first = await tokens.issue(user)
    const elsewhere = await tokens.issue(user)
    const second = await tokens.refresh(first.refreshToken)
    const third = await tokens.refresh(second.refreshToken)
    expect(await rejection(tokens.refresh(first.refreshToken))).toBe('REFRESH_TOKEN_REUSED')
    expect(await rejection(tokens.refresh(third.refreshToken))).toBe('REFRESH_TOKEN_REVOKED')
    expect(await rejection(tokens.refresh(second.refreshToken))).toBe('REFRESH_TOKEN_REVOKED')
    // Another sign-in of the same user is another family: it still works.
    await expect(tokens.refresh(elsewhere.refreshToken)).resolves.toMatchObject({ user })
    await core.close()
  })

  it('of two refreshes of one token at once, exactly one succeeds', async () => {
    const { tokens, user, core } = await setup()
    const { refreshToken } = await tokens.issue(user)
    const results = await Promise.allSettled([tokens.refresh(refreshToken), tokens.refresh(refreshToken)])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    await core.close()
  })

  it('of two refreshes of one token through two connections, exactly one succeeds', async () => {
    const { tokens, user, clock, dir, newId, core } = await setup()
    const { refreshToken } = await tokens.issue(user)
    const db2 = openDatabase({ file: join(dir, 'kurir.db') })
    const users2 = createUserStore({ db: db2, clock, newId, bcryptCost: MIN_BCRYPT_COST, warmUp: false })
    const tokens2 = createTokenService({ db: db2, users: users2, secret: SECRET, clock, newId })
    const results = await Promise.allSettled([tokens.refresh(refreshToken), tokens2.refresh(refreshToken)])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    db2.close()
    await core.close()
  })

  it('are refused when unknown or past their 30 days, and pruned after', async () => {
    const { tokens, user, clock, core } = await setup()
    expect(await rejection(tokens.refresh('rt_unknown'))).toBe('REFRESH_TOKEN_INVALID')
    const { refreshToken } = await tokens.issue(user)
    clock.advance(30 * DAY - 1)
    expect(tokens.prune()).toBe(0)
    const { refreshToken: next } = await tokens.refresh(refreshToken)
    clock.advance(30 * DAY)
    expect(await rejection(tokens.refresh(next))).toBe('REFRESH_TOKEN_EXPIRED')
    clock.advance(1)
    expect(tokens.prune()).toBe(2)
    expect(await rejection(tokens.refresh(next))).toBe('REFRESH_TOKEN_INVALID')
    await core.close()
  })

  it('logout revokes the family of its own token only', async () => {
    const { tokens, users, user, core } = await setup()
    const other = await users.add({
      email: 'other@example.com',
      password: 'correct horse battery',
      role: 'admin',
    })
    const mine = await tokens.issue(user)
    const theirs = await tokens.issue(other)
    const rotated = await tokens.refresh(mine.refreshToken)
    expect(() => tokens.logout(theirs.refreshToken, user.id)).toThrow(
      expect.objectContaining({ code: 'REFRESH_TOKEN_INVALID' }),
    )
    tokens.logout(rotated.refreshToken, user.id)
    expect(await rejection(tokens.refresh(rotated.refreshToken))).toBe('REFRESH_TOKEN_REVOKED')
    await expect(tokens.refresh(theirs.refreshToken)).resolves.toMatchObject({ user: other })
    await core.close()
  })

  it('stop working once their user is removed', async () => {
    const { tokens, users, user, core } = await setup()
    const { refreshToken } = await tokens.issue(user)
    users.remove(user.email)
    expect(await rejection(tokens.refresh(refreshToken))).toBe('REFRESH_TOKEN_INVALID')
    await core.close()
  })
})
