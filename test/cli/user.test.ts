import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MIN_BCRYPT_COST } from '../../src/auth/passwords.ts'
import { createUserStore } from '../../src/auth/users.ts'
import { openDatabase } from '../../src/eventlog/database.ts'
import { ulidSource } from '../../src/ids.ts'
import { runKurir } from '../support/cli.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const PASSWORD = 'correct horse battery'
const LOCK_HOLDER = new URL('../fixtures/lock-holder.ts', import.meta.url).pathname

const run = runKurir

/** Reads the data folder's users as the gateway would, and checks a password. */
const signIn = async (dir: string, email: string, password: string) => {
  const db = openDatabase({ file: join(dir, 'kurir.db') })
  const clock = createFakeClock()
  const users = createUserStore({
    db,
    clock,
    newId: ulidSource(clock),
    bcryptCost: MIN_BCRYPT_COST,
    warmUp: false,
  })
  try {
    return await users.authenticate(email, password)
  } finally {
    db.close()
  }
}

describe('kurir user', () => {
  it('add creates an admin by default in a fresh DATA_DIR, who can then sign in', async () => {
    const dir = join(tempDir(), 'data')
    const r = await run(dir, 'user', 'add', '--email', 'Ops@Example.com', '--password', PASSWORD)
    expect(r).toMatchObject({ code: 0, out: 'created admin ops@example.com', err: '' })
    expect(await signIn(dir, 'ops@example.com', PASSWORD)).toMatchObject({ role: 'admin' })
  })

  it('add takes a role, and list prints one line per user: email, role, created', async () => {
    const dir = tempDir()
    await run(dir, 'user', 'add', '--email', 'ops@example.com', '--password', PASSWORD)
    const r = await run(
      dir,
      'user',
      'add',
      '--email',
      'bot@example.com',
      '--password',
      PASSWORD,
      '--role',
      'sender',
    )
    expect(r.code).toBe(0)
    const list = await run(dir, 'user', 'list')
    expect(list.code).toBe(0)
    const lines = list.out.split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^ops@example\.com {2}admin {3}\d{4}-\d\d-\d\dT[\d:.]+Z$/)
    expect(lines[1]).toMatch(/^bot@example\.com {2}sender {2}\d{4}-\d\d-\d\dT[\d:.]+Z$/)
  })

  it('add exits 1 with a clear message when the user exists, in any letter case', async () => {
    const dir = tempDir()
    await run(dir, 'user', 'add', '--email', 'ops@example.com', '--password', PASSWORD)
    const r = await run(dir, 'user', 'add', '--email', 'OPS@example.com', '--password', PASSWORD)
    expect(r).toMatchObject({ code: 1, err: 'kurir: a user with the email ops@example.com already exists' })
  })

  it('add exits 1 on bad input, creating nobody', async () => {
    const dir = tempDir()
    const cases: [string[], RegExp][] = [
      [['--email', 'ops@example.com'], /--password is required/],
      [['--password', PASSWORD], /--email is required/],
      [['--email', 'not-an-email', '--password', PASSWORD], /'not-an-email' is not an email address/],
      [['--email', 'ops@example.com', '--password', 'short'], /8 to 128 characters/],
      [['--email', 'ops@example.com', '--password', 'x'.repeat(73)], /at most 72 bytes/],
      [
        ['--email', 'ops@example.com', '--password', PASSWORD, '--role', 'root'],
        /--role must be one of admin, sender/,
      ],
      [['--email', 'ops@example.com', '--password', PASSWORD, '--admin'], /^kurir: .*--admin/],
      // Which of two was meant is not guessed.
      [
        ['--email', 'ops@example.com', '--password', PASSWORD, '--email', 'bot@example.com'],
        /^kurir: --email is given more than once$/,
      ],
    ]
    for (const [args, message] of cases) {
      const r = await run(dir, 'user', 'add', ...args)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.err).toMatch(message)
      expect(r.err).not.toMatch(/\n\s+at /)
    }
    expect((await run(dir, 'user', 'list')).out).toMatch(/^no users/)
  })

  it('passwd replaces the password', async () => {
    const dir = tempDir()
    await run(dir, 'user', 'add', '--email', 'ops@example.com', '--password', PASSWORD)
    const r = await run(
      dir,
      'user',
      'passwd',
      '--email',
      'ops@example.com',
      '--password',
      'another long password',
    )
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^password changed for ops@example\.com/)
    expect(await signIn(dir, 'ops@example.com', PASSWORD)).toBeNull()
    expect(await signIn(dir, 'ops@example.com', 'another long password')).not.toBeNull()
  })

  it('remove deletes the user; removing or changing a missing user exits 1', async () => {
    const dir = tempDir()
    await run(dir, 'user', 'add', '--email', 'ops@example.com', '--password', PASSWORD)
    expect(await run(dir, 'user', 'remove', '--email', 'OPS@example.com')).toMatchObject({
      code: 0,
      out: 'removed ops@example.com',
    })
    expect((await run(dir, 'user', 'list')).out).toMatch(/^no users/)
    expect(await run(dir, 'user', 'remove', '--email', 'ops@example.com')).toMatchObject({
      code: 1,
      err: 'kurir: no user with the email ops@example.com',
    })
    const passwd = await run(dir, 'user', 'passwd', '--email', 'ops@example.com', '--password', PASSWORD)
    expect(passwd).toMatchObject({ code: 1, err: 'kurir: no user with the email ops@example.com' })
    await run(dir, 'user', 'add', '--email', 'a@example.com', '--password', PASSWORD)
    const two = await run(dir, 'user', 'remove', '--email', 'b@example.com', '--email', 'a@example.com')
    expect(two).toMatchObject({ code: 1, err: 'kurir: --email is given more than once' })
    expect((await run(dir, 'user', 'list')).out).toMatch(/^a@example\.com/)
  })

  it('says in one line that the database is busy when another process holds it past the busy timeout', async () => {
    const dir = tempDir()
    expect((await run(dir, 'user', 'add', '--email', 'a@example.com', '--password', PASSWORD)).code).toBe(0)
    // Another process writes for longer than the 5 s a command waits.
    const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, join(dir, 'kurir.db'), '5600'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise((r) => holder.once('exit', r))
    await new Promise<void>((resolve) => holder.stdout.on('data', () => resolve()))
    const busy = await run(dir, 'user', 'add', '--email', 'b@example.com', '--password', PASSWORD)
    await exited
    expect(busy.code).toBe(1)
    expect(busy.err).toBe(
      'kurir: the database is busy (SQLITE_BUSY): another process is writing to it; try again, or stop the gateway for long work such as replay rebuild',
    )
  }, 20_000)

  it('list, remove and passwd refuse a DATA_DIR without a database, and create none there', async () => {
    const dir = join(tempDir(), 'mistyped')
    for (const args of [
      ['list'],
      ['remove', '--email', 'ops@example.com'],
      ['passwd', '--email', 'ops@example.com', '--password', PASSWORD],
    ]) {
      expect(await run(dir, 'user', ...args)).toMatchObject({
        code: 1,
        err: `kurir: no database at ${join(dir, 'kurir.db')}; set DATA_DIR to the gateway's data folder`,
      })
    }
    expect(existsSync(dir)).toBe(false)
  })

  it('without a known subcommand prints its usage and exits 1', async () => {
    const r = await run(tempDir(), 'user', 'delete')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^usage: kurir user <command>/)
  })
})
