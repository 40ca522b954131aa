// `kurir user add | list | remove | passwd`: manages who may sign in to the API.
import { existsSync } from 'node:fs'
import { createUserStore, ROLES, type Role, type UserStore } from '../auth/users.ts'
import { systemClock } from '../clock.ts'
import { ensureDataDir, loadConfig } from '../config.ts'
import { ConfigError, ValidationError } from '../errors.ts'
import { openDatabase } from '../eventlog/database.ts'
import { migrate } from '../eventlog/migrate.ts'
import { ulidSource } from '../ids.ts'
import type { Io } from './main.ts'
import { readOptions } from './options.ts'

const USAGE = `usage: kurir user <command>

  add --email E --password P [--role admin|sender]   create a user (role admin unless given)
  list                                               every user: email, role, created
  remove --email E                                   delete a user and end its sessions
  passwd --email E --password P                      set a new password and end its sessions`

const OPTIONS = {
  email: { type: 'string' },
  password: { type: 'string' },
  role: { type: 'string' },
} as const

type Options = { email?: string; password?: string; role?: string }

const parse = (args: string[], allowed: (keyof Options)[]): Options => {
  const values: Options = readOptions(args, OPTIONS).values
  const extra = Object.keys(values).find((k) => !allowed.includes(k as keyof Options))
  if (extra) throw new ValidationError(`--${extra} is not an option of this command`)
  return values
}

const required = (values: Options, name: 'email' | 'password'): string => {
  const value = values[name]
  if (value === undefined || value === '') throw new ValidationError(`--${name} is required`)
  return value
}

const roleOf = (role: string | undefined): Role => {
  if (role === undefined) return 'admin'
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new ValidationError(`--role must be one of ${ROLES.join(', ')} (got '${role}')`)
  }
  return role as Role
}

type Sub = 'add' | 'list' | 'remove' | 'passwd'

const run = async (sub: Sub, args: string[], users: UserStore, io: Io): Promise<number> => {
  switch (sub) {
    case 'add': {
      const values = parse(args, ['email', 'password', 'role'])
      const user = await users.add({
        email: required(values, 'email'),
        password: required(values, 'password'),
        role: roleOf(values.role),
      })
      io.out(`created ${user.role} ${user.email}`)
      return 0
    }
    case 'list': {
      parse(args, [])
      const all = users.list()
      if (all.length === 0) io.out('no users; add one with: kurir user add --email E --password P')
      const width = Math.max(0, ...all.map((u) => u.email.length))
      for (const u of all) io.out(`${u.email.padEnd(width)}  ${u.role.padEnd(6)}  ${u.createdAt}`)
      return 0
    }
    case 'remove': {
      const email = required(parse(args, ['email']), 'email')
      users.remove(email)
      io.out(`removed ${email.trim().toLowerCase()}`)
      return 0
    }
    case 'passwd': {
      const values = parse(args, ['email', 'password'])
      const email = required(values, 'email')
      await users.setPassword(email, required(values, 'password'))
      io.out(`password changed for ${email.trim().toLowerCase()}; its refresh tokens are revoked`)
      return 0
    }
  }
}

/**
 * Runs `kurir user <sub> …` against DATA_DIR's database (for `add`, created if need be; migrated); resolves to
 * the exit code. Bad input and missing or existing users throw KurirErrors, printed by `main`.
 *
 * @example
 * await userCommand(['add', '--email', 'ops@example.com', '--password', 'correct horse battery'], io) // 0
 */
export const userCommand = async (args: string[], io: Io): Promise<number> => {
  const [sub, ...rest] = args
  if (sub !== 'add' && sub !== 'list' && sub !== 'remove' && sub !== 'passwd') {
    io.err(USAGE)
    return 1
  }
  const config = loadConfig(io.env)
  // Only `add` may start a data folder: the others, pointed at a mistyped DATA_DIR, would create an empty
  // database there and report on it (no users, or no such user) as if it were the gateway's.
  if (sub !== 'add' && !existsSync(config.dbFile)) {
    throw new ConfigError(`no database at ${config.dbFile}; set DATA_DIR to the gateway's data folder`)
  }
  ensureDataDir(config.dataDir)
  const db = openDatabase({ file: config.dbFile, synchronous: config.synchronous })
  try {
    migrate(db)
    const users = createUserStore({
      db,
      clock: systemClock,
      newId: ulidSource(systemClock),
      bcryptCost: config.bcryptCost,
      // A command signs no one in; making the dummy hash would only delay its exit.
      warmUp: false,
    })
    return await run(sub, rest, users, io)
  } finally {
    db.close()
  }
}
