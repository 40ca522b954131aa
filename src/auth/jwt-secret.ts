// The key that signs access tokens: JWT_SECRET, or one generated once into DATA_DIR (mode 0600).
import { randomBytes } from 'node:crypto'
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.ts'

/** The shortest JWT_SECRET accepted in production: 32 characters, HS256's 256 bits for random text. */
export const MIN_JWT_SECRET_LENGTH = 32
export const JWT_SECRET_FILE = 'jwt-secret'

export interface ResolveJwtSecretOptions {
  /** JWT_SECRET as found in the environment; undefined or empty when unset. */
  secretFromEnv: string | undefined
  dataDir: string
  /** NODE_ENV=production: the secret must come from the environment. */
  production: boolean
}

const readSecretFile = (file: string): string => {
  // A secret others can read is no secret: tighten a file that was copied or created loosely.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  const secret = readFileSync(file, 'utf8').trim()
  if (secret === '') {
    throw new ConfigError(`${file} is empty; delete it and a new secret will be generated`)
  }
  return secret
}

/**
 * Writes a new secret under a private name first and then links it into place: linking fails when the
 * file exists, so of two processes starting at once exactly one secret wins, and no one ever reads
 * a half-written file.
 */
const createSecretFile = (file: string): string => {
  const secret = randomBytes(48).toString('base64url')
  const draft = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`
  writeFileSync(draft, `${secret}\n`, { flag: 'wx', mode: 0o600, flush: true })
  try {
    linkSync(draft, file)
    return secret
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return readSecretFile(file)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err
    // A file system without hard links: create the file in place; 'wx' still refuses to overwrite.
    try {
      writeFileSync(file, `${secret}\n`, { flag: 'wx', mode: 0o600, flush: true })
      return secret
    } catch (inPlace) {
      if ((inPlace as NodeJS.ErrnoException).code === 'EEXIST') return readSecretFile(file)
      throw inPlace
    }
  } finally {
    unlinkSync(draft)
  }
}

/**
 * The secret to sign access tokens with. JWT_SECRET when set (in production it must have at least 32
 * characters); in production without it, a ConfigError; otherwise the secret kept in
 * `DATA_DIR/jwt-secret`, generated on first use.
 *
 * @example
 * const secret = resolveJwtSecret({ secretFromEnv: config.jwtSecret, dataDir: config.dataDir, production: config.production })
 */
export const resolveJwtSecret = ({ secretFromEnv, dataDir, production }: ResolveJwtSecretOptions): string => {
  if (secretFromEnv !== undefined && secretFromEnv !== '') {
    if (production && secretFromEnv.length < MIN_JWT_SECRET_LENGTH) {
      throw new ConfigError(
        `JWT_SECRET must have at least ${MIN_JWT_SECRET_LENGTH} characters when NODE_ENV=production (it has ${secretFromEnv.length}); generate one with: openssl rand -base64 48`,
      )
    }
    return secretFromEnv
  }
  if (production) {
    throw new ConfigError(
      `JWT_SECRET is required when NODE_ENV=production (at least ${MIN_JWT_SECRET_LENGTH} characters)`,
    )
  }
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, JWT_SECRET_FILE)
  try {
    return readSecretFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return createSecretFile(file)
}
