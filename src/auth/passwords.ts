// Password hashing with bcrypt: the rules a new password must meet, hashing, and comparison.
import { randomBytes } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { ConfigError, ValidationError } from '../errors.ts'

/** Below this work factor a hash is too cheap to brute-force offline; such a cost is refused. */
export const MIN_BCRYPT_COST = 10
export const DEFAULT_BCRYPT_COST = 12

export const MIN_PASSWORD_LENGTH = 8
export const MAX_PASSWORD_LENGTH = 128
/** bcrypt reads only this many bytes; anything after them would be silently ignored. */
export const MAX_PASSWORD_BYTES = 72

/**
 * Throws a ValidationError unless `password` may be set: 8 to 128 characters, not all blanks, and at
 * most 72 UTF-8 bytes.
 *
 * @example
 * checkPassword('correct horse battery') // passes
 * checkPassword('short')                 // throws ValidationError
 */
export const checkPassword = (password: string): void => {
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new ValidationError(
      `a password needs ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters (this one has ${length})`,
    )
  }
  if (password.trim() === '') throw new ValidationError('a password needs more than blanks')
  const bytes = Buffer.byteLength(password, 'utf8')
  if (bytes > MAX_PASSWORD_BYTES) {
    throw new ValidationError(
      `a password may take at most ${MAX_PASSWORD_BYTES} bytes in UTF-8, as bcrypt ignores the rest (this one takes ${bytes}; non-ASCII characters take 2 to 4 bytes each)`,
    )
  }
}

/**
 * Throws a ConfigError unless `cost` is a whole number from MIN_BCRYPT_COST to 31.
 *
 * @example
 * checkBcryptCost(12)
 */
export const checkBcryptCost = (cost: number): void => {
  if (!Number.isInteger(cost) || cost < MIN_BCRYPT_COST || cost > 31) {
    throw new ConfigError(
      `the bcrypt cost must be a whole number from ${MIN_BCRYPT_COST} to 31 (got ${cost})`,
    )
  }
}

/**
 * Checks the password against the rules, then hashes it with a fresh salt.
 *
 * @example
 * const hash = await hashPassword('correct horse battery', DEFAULT_BCRYPT_COST)
 */
export const hashPassword = async (password: string, cost: number): Promise<string> => {
  checkBcryptCost(cost)
  checkPassword(password)
  return bcrypt.hash(password, cost)
}

/**
 * Whether `password` is the one `hash` was made from. A password over 72 bytes never matches (none
 * can have been set), yet the comparison is still made so that it takes the usual time.
 *
 * @example
 * if (await verifyPassword(given, row.password_hash)) signIn()
 */
export const verifyPassword = async (password: string, hash: string): Promise<boolean> => {
  const matches = await bcrypt.compare(password, hash)
  return matches && !bcrypt.truncates(password)
}

// One dummy hash per cost, made once from random bytes: nothing can match it.
const dummyHashes = new Map<number, Promise<string>>()
const dummyHash = (cost: number): Promise<string> => {
  let hash = dummyHashes.get(cost)
  if (!hash) {
    hash = bcrypt.hash(randomBytes(32).toString('base64url'), cost)
    dummyHashes.set(cost, hash)
  }
  return hash
}

/**
 * Spends a bcrypt comparison at `cost` against a hash that matches nothing, and answers false. Called
 * for an unknown email so that its answer takes as long as a wrong password for a known one.
 *
 * @example
 * const ok = row ? await verifyPassword(password, row.password_hash) : await verifyAgainstNothing(password, cost)
 */
export const verifyAgainstNothing = async (password: string, cost: number): Promise<false> => {
  await bcrypt.compare(password, await dummyHash(cost))
  return false
}

/**
 * Makes the dummy hash for `cost` now, so that the first unknown email is not told apart by the
 * time its hash takes to make.
 *
 * @example
 * void prepareDummyHash(DEFAULT_BCRYPT_COST)
 */
export const prepareDummyHash = (cost: number): Promise<void> => dummyHash(cost).then(() => undefined)
