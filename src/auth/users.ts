// The users allowed into the API: who they are, their role, and the check of their password.
import { z } from 'zod'
import { type Clock, toIso } from '../clock.ts'
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { IdSource } from '../ids.ts'
import {
  checkBcryptCost,
  hashPassword,
  prepareDummyHash,
  verifyAgainstNothing,
  verifyPassword,
} from './passwords.ts'

export const ROLES = ['admin', 'sender'] as const
export type Role = (typeof ROLES)[number]

export interface User {
  id: string
  email: string
  role: Role
  createdAt: string
}

export interface NewUser {
  email: string
  password: string
  role: Role
}

export interface UserStoreDeps {
  db: Db
  clock: Clock
  newId: IdSource
  /** bcrypt work factor for new hashes; at least MIN_BCRYPT_COST. */
  bcryptCost: number
  /** Make the dummy hash for unknown emails now rather than on the first sign-in (default true). */
  warmUp?: boolean
  /**
   * How long `findById` may answer from memory (default 0: always the database). Changes made through
   * this store show at once; changes made by another process (`kurir user remove` beside a running
   * server) show within this time.
   */
  lookupMaxAgeMs?: number
}

/** At most this many users are remembered by `findById`. */
const LOOKUP_CACHE_SIZE = 10_000

/** A user with this email already exists (HTTP 409). */
export class UserExistsError extends ConflictError {
  override readonly code = 'USER_EXISTS'
}

const emailSchema = z.email().max(254)

/**
 * The email as stored: trimmed and lower-cased. Throws a ValidationError when it is not an address.
 *
 * @example
 * normalizeEmail(' Ops@Example.com ') // 'ops@example.com'
 */
export const normalizeEmail = (email: string): string => {
  const trimmed = email.trim()
  if (!emailSchema.safeParse(trimmed).success) {
    throw new ValidationError(`'${trimmed}' is not an email address`)
  }
  return trimmed.toLowerCase()
}

type UserRow = { id: string; email: string; role: Role; created_at: string }
type UserRowWithHash = UserRow & { password_hash: string }

const toUser = (row: UserRow): User => ({
  id: row.id,
  email: row.email,
  role: row.role,
  createdAt: row.created_at,
})

const USER_COLUMNS = 'id, email, role, created_at'

/** The work factor a bcrypt hash was made with (`$2b$12$…`: 12). */
const costOf = (hash: string): number => Number(hash.slice(4, 6))

/**
 * @example
 * const users = createUserStore({ db, clock, newId, bcryptCost: DEFAULT_BCRYPT_COST })
 * await users.add({ email: 'ops@example.com', password: 'correct horse battery', role: 'admin' })
 * const user = await users.authenticate('ops@example.com', 'correct horse battery') // User | null
 */
export const createUserStore = ({
  db,
  clock,
  newId,
  bcryptCost,
  warmUp = true,
  lookupMaxAgeMs = 0,
}: UserStoreDeps) => {
  checkBcryptCost(bcryptCost)
  // Made now so that the first sign-in with an unknown email takes no longer than the next ones.
  if (warmUp) prepareDummyHash(bcryptCost).catch(() => {})

  const insert = db.prepare(
    'INSERT INTO users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)',
  )
  const selectAll = db.prepare(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, id`)
  const selectById = db.prepare(`SELECT ${USER_COLUMNS}, tokens_valid_from FROM users WHERE id = ?`)
  const selectByEmail = db.prepare(`SELECT ${USER_COLUMNS}, password_hash FROM users WHERE email = ?`)
  const deleteByEmail = db.prepare('DELETE FROM users WHERE email = ?')
  const updateHash = db.prepare('UPDATE users SET password_hash = ?, tokens_valid_from = ? WHERE email = ?')
  const revokeTokensOf = db.prepare(
    'UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL',
  )
  const countAll = db.prepare('SELECT count(*) FROM users').pluck()
  const rehash = db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?')

  // findById answers, by id, with when they were read. Ids are never reused, so an absent user is
  // remembered too.
  type Lookup = { user: User | null; tokensValidFrom: number; readAt: number }
  const lookups = new Map<string, Lookup>()
  const lookUp = (id: string): Lookup => {
    const row = selectById.get(id) as (UserRow & { tokens_valid_from: number }) | undefined
    const found = {
      user: row ? toUser(row) : null,
      tokensValidFrom: row?.tokens_valid_from ?? 0,
      readAt: clock.now(),
    }
    if (lookupMaxAgeMs > 0) {
      if (lookups.size >= LOOKUP_CACHE_SIZE) lookups.clear()
      lookups.set(id, found)
    }
    return found
  }
  const lookupOf = (id: string): Lookup => {
    const known = lookups.get(id)
    return known !== undefined && clock.now() - known.readAt < lookupMaxAgeMs ? known : lookUp(id)
  }

  const checkRole = (role: string): Role => {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new ValidationError(`role must be one of ${ROLES.join(', ')} (got '${role}')`)
    }
    return role as Role
  }

  const insertUser = (email: string, hash: string, role: Role): User => {
    const user: User = { id: newId(), email, role, createdAt: toIso(clock.now()) }
    try {
      insert.run(user.id, user.email, hash, user.role, user.createdAt)
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new UserExistsError(`a user with the email ${email} already exists`, { cause: err })
      }
      throw err
    }
    return user
  }

  const requireRow = (email: string): UserRowWithHash => {
    const normalized = normalizeEmail(email)
    const row = selectByEmail.get(normalized) as UserRowWithHash | undefined
    if (!row) throw new NotFoundError(`no user with the email ${normalized}`)
    return row
  }

  return {
    /** Creates a user; UserExistsError (409) when the email is taken in any letter case. */
    async add(input: NewUser): Promise<User> {
      const email = normalizeEmail(input.email)
      const role = checkRole(input.role)
      if (selectByEmail.get(email)) throw new UserExistsError(`a user with the email ${email} already exists`)
      return insertUser(email, await hashPassword(input.password, bcryptCost), role)
    },

    /** Every user, oldest first, without password hashes. */
    list(): User[] {
      return (selectAll.all() as UserRow[]).map(toUser)
    },

    /** Deletes the user and, by cascade, its refresh tokens; NotFoundError when there is none. */
    remove(email: string): void {
      const row = requireRow(email)
      deleteByEmail.run(row.email)
      lookups.delete(row.id)
    },

    /**
     * Sets a new password and ends every session of the user: its refresh tokens are revoked, and access
     * tokens issued before the change are refused (every device signs in again).
     */
    async setPassword(email: string, password: string): Promise<void> {
      const row = requireRow(email)
      const hash = await hashPassword(password, bcryptCost)
      db.transaction(() => {
        // The next whole second: a token's `iat` is in seconds, and one issued in this second may be older.
        const validFrom = Math.ceil(clock.now() / 1000)
        if (updateHash.run(hash, validFrom, row.email).changes === 0) {
          throw new NotFoundError(`no user with the email ${row.email}`)
        }
        revokeTokensOf.run(toIso(clock.now()), row.id)
      })()
      lookups.delete(row.id)
    },

    findByEmail(email: string): User | null {
      const row = selectByEmail.get(email.trim().toLowerCase()) as UserRowWithHash | undefined
      return row ? toUser(row) : null
    },

    /** The user with this id; from memory when read less than `lookupMaxAgeMs` ago. */
    findById(id: string): User | null {
      return lookupOf(id).user
    },

    /**
     * The first second (epoch seconds, compared with a token's `iat`) whose access tokens the user's last
     * password change still lets in; 0 when it never changed. By the same cached lookup as `findById`.
     */
    tokensValidFrom(id: string): number {
      return lookupOf(id).tokensValidFrom
    },

    count(): number {
      return countAll.get() as number
    },

    /**
     * The user whose email and password these are, or null. An unknown email costs the same bcrypt
     * comparison as a known one, so the time taken does not tell which emails exist.
     */
    async authenticate(email: string, password: string): Promise<User | null> {
      const row = selectByEmail.get(email.trim().toLowerCase()) as UserRowWithHash | undefined
      if (!row) return verifyAgainstNothing(password, bcryptCost).then(() => null)
      if (!(await verifyPassword(password, row.password_hash))) return null
      // A hash made at another cost (by a `kurir user add` with another BCRYPT_COST, or before the
      // setting changed) takes another time to check than the stand-in for unknown emails, which would
      // tell that this email exists: it is made again at the configured cost, while the password is known.
      if (costOf(row.password_hash) !== bcryptCost) {
        rehash.run(await hashPassword(password, bcryptCost), row.id, row.password_hash)
      }
      return toUser(row)
    },

    /**
     * Creates this admin when there is no user at all (first start with ADMIN_EMAIL and ADMIN_PASSWORD);
     * answers whether it did.
     */
    async ensureAdmin({ email, password }: { email: string; password: string }): Promise<boolean> {
      if ((countAll.get() as number) > 0) return false
      const normalized = normalizeEmail(email)
      const hash = await hashPassword(password, bcryptCost)
      // Another starter may have added a user while the hash was being made.
      return db
        .transaction(() => {
          if ((countAll.get() as number) > 0) return false
          insertUser(normalized, hash, 'admin')
          return true
        })
        .immediate()
    },
  }
}

export type UserStore = ReturnType<typeof createUserStore>
