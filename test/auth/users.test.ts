import type Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { MIN_BCRYPT_COST } from '../../src/auth/passwords.ts'
import { createUserStore, UserExistsError } from '../../src/auth/users.ts'
import { NotFoundError, ValidationError } from '../../src/errors.ts'
import { ulidSource } from '../../src/ids.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const PASSWORD = 'correct horse battery'

const setup = async () => {
  const clock = createFakeClock()
  const core = openTestCore(tempDir(), { clock })
  const users = createUserStore({ db: core.db, clock, newId: ulidSource(clock), bcryptCost: MIN_BCRYPT_COST })
  return { core, clock, users, db: core.db as Database.Database }
}

describe('user store', () => {
  it('adds a user with a trimmed, lower-cased email and lists it without its hash', async () => {
    const { users, core } = await setup()
    const user = await users.add({ email: '  Ops@Example.COM ', password: PASSWORD, role: 'admin' })
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      email: 'ops@example.com',
      role: 'admin',
      createdAt: '2026-01-05T08:00:00.000Z',
    })
    expect(users.list()).toEqual([user])
    expect(users.count()).toBe(1)
    expect(users.findById(user.id)).toEqual(user)
    expect(users.findByEmail('OPS@example.com')).toEqual(user)
    const stored = core.db.prepare('SELECT password_hash FROM users').pluck().get() as string
    expect(stored).toMatch(/^\$2[ab]\$10\$/)
    expect(stored).not.toContain(PASSWORD)
    await core.close()
  })

  it('refuses a second user with the same email in another letter case', async () => {
    const { users, core } = await setup()
    await users.add({ email: 'ops@example.com', password: PASSWORD, role: 'admin' })
    const again = users.add({ email: 'OPS@Example.com', password: PASSWORD, role: 'sender' })
    await expect(again).rejects.toThrow(UserExistsError)
    await expect(
      users.add({ email: 'Ops@example.com', password: PASSWORD, role: 'sender' }),
    ).rejects.toMatchObject({ code: 'USER_EXISTS' })
    expect(users.count()).toBe(1)
    await core.close()
  })

  it('refuses an address that is not an email, an unknown role and a short password', async () => {
    const { users, core } = await setup()
    await expect(users.add({ email: 'not-an-email', password: PASSWORD, role: 'admin' })).rejects.toThrow(
      ValidationError,
    )
    await expect(
      users.add({ email: 'ops@example.com', password: PASSWORD, role: 'root' as 'admin' }),
    ).rejects.toThrow(/role must be one of admin, sender/)
    await expect(users.add({ email: 'ops@example.com', password: 'short', role: 'admin' })).rejects.toThrow(
      ValidationError,
    )
    expect(users.count()).toBe(0)
    await core.close()
  })

  it('authenticates the right password, in any letter case of the email, and nothing else', async () => {
    const { users, core } = await setup()
    const user = await users.add({ email: 'ops@example.com', password: PASSWORD, role: 'sender' })
    expect(await users.authenticate('OPS@example.com ', PASSWORD)).toEqual(user)
    expect(await users.authenticate('ops@example.com', 'wrong password')).toBeNull()
    expect(await users.authenticate('nobody@example.com', PASSWORD)).toBeNull()
    expect(await users.authenticate('not an email', PASSWORD)).toBeNull()
    await core.close()
  })

  it('removes a user together with its refresh tokens', async () => {
    const { users, core } = await setup()
    const user = await users.add({ email: 'ops@example.com', password: PASSWORD, role: 'admin' })
    core.db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at_ms) VALUES (?, 'f', ?, 0)",
      )
      .run('a'.repeat(64), user.id)
    users.remove('Ops@Example.com')
    expect(users.list()).toEqual([])
    expect(users.findById(user.id)).toBeNull()
    expect(core.db.prepare('SELECT count(*) FROM refresh_tokens').pluck().get()).toBe(0)
    await core.close()
  })

  it("answers findById from memory for lookupMaxAgeMs: its own removals show at once, another process's within that time", async () => {
    const { core, clock } = await setup()
    const newId = ulidSource(clock)
    const deps = { db: core.db, clock, newId, bcryptCost: MIN_BCRYPT_COST, warmUp: false }
    const server = createUserStore({ ...deps, lookupMaxAgeMs: 1000 })
    const otherProcess = createUserStore(deps)
    const kept = await server.add({ email: 'kept@example.com', password: PASSWORD, role: 'admin' })
    const gone = await server.add({ email: 'gone@example.com', password: PASSWORD, role: 'sender' })
    const local = await server.add({ email: 'local@example.com', password: PASSWORD, role: 'sender' })
    for (const u of [kept, gone, local]) expect(server.findById(u.id)).toMatchObject({ id: u.id })

    otherProcess.remove(gone.email)
    server.remove(local.email)
    expect(server.findById(local.id)).toBeNull()
    clock.advance(999)
    expect(server.findById(gone.id)).toMatchObject({ id: gone.id })
    clock.advance(1)
    expect(server.findById(gone.id)).toBeNull()
    expect(server.findById(kept.id)).toMatchObject({ id: kept.id })
    // Without a max age every lookup reads the database.
    expect(otherProcess.findById(gone.id)).toBeNull()
    await core.close()
  })

  it('reports a missing user on remove and on a password change', async () => {
    const { users, core } = await setup()
    expect(() => users.remove('nobody@example.com')).toThrow(NotFoundError)
    await expect(users.setPassword('nobody@example.com', PASSWORD)).rejects.toThrow(NotFoundError)
    await core.close()
  })

  it('makes a hash of another cost again at the configured cost on a right password, so logins take one time', async () => {
    const clock = createFakeClock()
    const core = openTestCore(tempDir(), { clock })
    const newId = ulidSource(clock)
    // Added by a command that ran with another BCRYPT_COST than the gateway's.
    const elsewhere = createUserStore({ db: core.db, clock, newId, bcryptCost: 11, warmUp: false })
    await elsewhere.add({ email: 'ops@example.com', password: PASSWORD, role: 'admin' })
    const hash = () => core.db.prepare('SELECT password_hash FROM users').pluck().get() as string
    expect(hash()).toMatch(/^\$2b\$11\$/)
    const users = createUserStore({ db: core.db, clock, newId, bcryptCost: MIN_BCRYPT_COST, warmUp: false })
    expect(await users.authenticate('ops@example.com', 'not the password')).toBeNull()
    expect(hash()).toMatch(/^\$2b\$11\$/)
    expect(await users.authenticate('ops@example.com', PASSWORD)).toMatchObject({ email: 'ops@example.com' })
    expect(hash()).toMatch(/^\$2b\$10\$/)
    expect(await users.authenticate('ops@example.com', PASSWORD)).toMatchObject({ email: 'ops@example.com' })
    await core.close()
  })

  it('changes a password: the old one stops working and every refresh token is revoked', async () => {
    const { users, core } = await setup()
    const user = await users.add({ email: 'ops@example.com', password: PASSWORD, role: 'admin' })
    core.db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at_ms) VALUES (?, 'f', ?, 0)",
      )
      .run('b'.repeat(64), user.id)
    await users.setPassword('ops@example.com', 'a new long password')
    expect(await users.authenticate('ops@example.com', PASSWORD)).toBeNull()
    expect(await users.authenticate('ops@example.com', 'a new long password')).toEqual(user)
    expect(core.db.prepare('SELECT revoked_at FROM refresh_tokens').pluck().get()).toBe(
      '2026-01-05T08:00:00.000Z',
    )
    await expect(users.setPassword('ops@example.com', 'x'.repeat(73))).rejects.toThrow(/72 bytes/)
    await core.close()
  })

  it('creates the first admin only while there is no user at all', async () => {
    const { users, core } = await setup()
    expect(await users.ensureAdmin({ email: 'First@Example.com', password: PASSWORD })).toBe(true)
    expect(await users.ensureAdmin({ email: 'second@example.com', password: PASSWORD })).toBe(false)
    expect(users.list().map((u) => [u.email, u.role])).toEqual([['first@example.com', 'admin']])
    await core.close()
  })

  it('keeps refresh tokens of a user from outliving it even when written by hand (foreign keys are on)', async () => {
    const { core } = await setup()
    expect(core.db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(() =>
      core.db
        .prepare(
          "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at_ms) VALUES (?, 'f', 'ghost', 0)",
        )
        .run('c'.repeat(64)),
    ).toThrow(/FOREIGN KEY/)
    await core.close()
  })
})
