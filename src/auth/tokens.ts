// Access tokens (HS256 JWTs, short-lived) and refresh tokens (opaque, rotated, revoked by family).
import { createHash, randomBytes } from 'node:crypto'
import { sign, verify } from 'hono/jwt'
import { z } from 'zod'
import { type Clock, toIso } from '../clock.ts'
import { UnauthorizedError, ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { IdSource } from '../ids.ts'
import { ROLES, type Role, type User } from './users.ts'

export type TokenRejection =
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'USER_NOT_FOUND'
  | 'TOKEN_REVOKED'
  | 'REFRESH_TOKEN_INVALID'
  | 'REFRESH_TOKEN_EXPIRED'
  | 'REFRESH_TOKEN_REVOKED'
  | 'REFRESH_TOKEN_REUSED'

/** A token that does not let its bearer in (HTTP 401); the code says why. */
/**
 * A logout named a refresh token that is not one of the caller's (HTTP 400): the access token that let
 * the caller in is fine, so this is not a 401.
 */
export class UnknownRefreshTokenError extends ValidationError {
  override readonly code = 'REFRESH_TOKEN_INVALID'
}

export class TokenRejectedError extends UnauthorizedError {
  override readonly code: TokenRejection
  constructor(code: TokenRejection, message: string) {
    super(message)
    this.code = code
  }
}

export interface TokenPair {
  token: string
  refreshToken: string
  /** Seconds the access token is valid for. */
  expiresIn: number
}

export interface AccessClaims {
  userId: string
  email: string
  role: Role
  /** The token's `iat`, in epoch seconds. */
  issuedAt: number
}

export type TokenSubject = Pick<User, 'id' | 'email' | 'role'>

export interface TokenServiceDeps {
  db: Db
  users: { findById(id: string): User | null; tokensValidFrom?(id: string): number }
  secret: string
  clock: Clock
  newId: IdSource
  accessTtlSeconds?: number
  refreshTtlSeconds?: number
  /** How many verified access tokens to remember (their signature is then not checked again). */
  verifiedCacheSize?: number
}

const REFRESH_PREFIX = 'rt_'
const ALG = 'HS256'

const claimsSchema = z.object({
  sub: z.string().min(1),
  email: z.string(),
  role: z.enum(ROLES),
  iat: z.number(),
  exp: z.number(),
  nbf: z.number().optional(),
  jti: z.string(),
})

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

type Claims = z.infer<typeof claimsSchema>

/**
 * Access tokens whose signature and claims have been checked, by their exact text: the same text under
 * the same secret always verifies the same way, so a client presenting its token on every request pays
 * for the HMAC once. Expiry and the user are still checked on every request. Bounded: the oldest entry
 * goes first.
 */
const verifiedTokens = (capacity: number) => {
  const byToken = new Map<string, Claims>()
  return {
    get: (token: string): Claims | undefined => byToken.get(token),
    drop: (token: string): void => {
      byToken.delete(token)
    },
    add(token: string, claims: Claims): void {
      if (capacity <= 0) return
      if (byToken.size >= capacity) {
        const oldest = byToken.keys().next()
        if (!oldest.done) byToken.delete(oldest.value)
      }
      byToken.set(token, claims)
    },
  }
}

type RefreshRow = {
  token_hash: string
  family_id: string
  user_id: string
  expires_at_ms: number
  spent_at: string | null
  revoked_at: string | null
}

type RefreshOutcome =
  | { ok: true; user: User; refreshToken: string }
  | { ok: false; code: TokenRejection; message: string }

/**
 * @example
 * const tokens = createTokenService({ db, users, secret, clock, newId })
 * const pair = await tokens.issue(user)
 * const { userId, role } = await tokens.verifyAccess(pair.token)
 * const next = await tokens.refresh(pair.refreshToken) // pair.refreshToken is now spent
 */
export const createTokenService = ({
  db,
  users,
  secret,
  clock,
  newId,
  accessTtlSeconds = 900,
  refreshTtlSeconds = 30 * 24 * 3600,
  verifiedCacheSize = 10_000,
}: TokenServiceDeps) => {
  const verified = verifiedTokens(verifiedCacheSize)
  const insertRefresh = db.prepare(
    `INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at_ms)
     VALUES (?, ?, ?, ?, ?)`,
  )
  const selectRefresh = db.prepare(
    `SELECT token_hash, family_id, user_id, expires_at_ms, spent_at, revoked_at
     FROM refresh_tokens WHERE token_hash = ?`,
  )
  const markSpent = db.prepare(
    'UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL AND revoked_at IS NULL',
  )
  const revokeFamily = db.prepare(
    'UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL',
  )
  const deleteExpired = db.prepare('DELETE FROM refresh_tokens WHERE expires_at_ms < ?')

  /** Whether a token issued at `iat` (epoch seconds) predates its user's last password change. */
  const revoked = (userId: string, iat: number) => iat < (users.tokensValidFrom?.(userId) ?? 0)

  const newRefreshToken = (userId: string, familyId: string): string => {
    const token = REFRESH_PREFIX + randomBytes(32).toString('base64url')
    const now = clock.now()
    insertRefresh.run(hashToken(token), familyId, userId, toIso(now), now + refreshTtlSeconds * 1000)
    return token
  }

  const signAccess = (user: TokenSubject): Promise<string> => {
    const iat = Math.floor(clock.now() / 1000)
    return sign(
      { sub: user.id, email: user.email, role: user.role, iat, exp: iat + accessTtlSeconds, jti: newId() },
      secret,
      ALG,
    )
  }

  // Read, check and write in one IMMEDIATE transaction: the write lock is taken before the read, so of
  // two refreshes of one token (from any connection or process) only the first finds it unspent.
  const rotate = db.transaction((hash: string): RefreshOutcome => {
    const row = selectRefresh.get(hash) as RefreshRow | undefined
    if (!row) return { ok: false, code: 'REFRESH_TOKEN_INVALID', message: 'unknown refresh token' }
    if (row.revoked_at !== null) {
      return { ok: false, code: 'REFRESH_TOKEN_REVOKED', message: 'the refresh token was revoked' }
    }
    if (row.spent_at !== null) {
      // A spent token comes back only if it was copied: end every session descended from it.
      revokeFamily.run(toIso(clock.now()), row.family_id)
      return {
        ok: false,
        code: 'REFRESH_TOKEN_REUSED',
        message: 'the refresh token was already used; every token of its sign-in is now revoked',
      }
    }
    if (row.expires_at_ms <= clock.now()) {
      return { ok: false, code: 'REFRESH_TOKEN_EXPIRED', message: 'the refresh token has expired' }
    }
    const user = users.findById(row.user_id)
    if (!user) return { ok: false, code: 'USER_NOT_FOUND', message: "the token's user no longer exists" }
    markSpent.run(toIso(clock.now()), hash)
    return { ok: true, user, refreshToken: newRefreshToken(user.id, row.family_id) }
  })

  return {
    /** A new access token and a refresh token starting a new family. */
    async issue(user: TokenSubject): Promise<TokenPair> {
      const refreshToken = newRefreshToken(user.id, newId())
      return { token: await signAccess(user), refreshToken, expiresIn: accessTtlSeconds }
    },

    /**
     * The claims of a valid access token, with the email and role as they are now; TokenRejectedError
     * otherwise.
     */
    async verifyAccess(token: string): Promise<AccessClaims> {
      let claims = verified.get(token)
      if (claims === undefined) {
        let payload: unknown
        try {
          // hono's verify would compare exp, nbf and iat with Date.now(); those are turned off here and
          // checked below against the injected clock, so that time has one source. The header (HS256
          // only, so never 'none') and the signature are still checked by hono. Its errors quote the
          // whole token, so they are not passed on.
          payload = await verify(token, secret, { alg: ALG, exp: false, nbf: false, iat: false })
        } catch {
          throw new TokenRejectedError('TOKEN_INVALID', 'invalid access token')
        }
        const parsed = claimsSchema.safeParse(payload)
        if (!parsed.success) throw new TokenRejectedError('TOKEN_INVALID', 'invalid access token')
        claims = parsed.data
        verified.add(token, claims)
      }
      const nowSeconds = clock.now() / 1000
      if (claims.exp <= nowSeconds) {
        verified.drop(token)
        throw new TokenRejectedError('TOKEN_EXPIRED', 'the access token has expired')
      }
      if (claims.nbf !== undefined && claims.nbf > nowSeconds) {
        throw new TokenRejectedError('TOKEN_INVALID', 'the access token is not valid yet')
      }
      const user = users.findById(claims.sub)
      if (!user) throw new TokenRejectedError('USER_NOT_FOUND', "the token's user no longer exists")
      if (revoked(user.id, claims.iat)) {
        throw new TokenRejectedError(
          'TOKEN_REVOKED',
          "the access token was issued before its user's password changed",
        )
      }
      return { userId: user.id, email: user.email, role: user.role, issuedAt: claims.iat }
    },

    /**
     * Why an access token verified earlier no longer lets its bearer in (its user was removed, or changed
     * password since it was issued), or null; for answers that outlast their request.
     */
    refusalOf(userId: string, issuedAt: number): 'USER_NOT_FOUND' | 'TOKEN_REVOKED' | null {
      if (!users.findById(userId)) return 'USER_NOT_FOUND'
      return revoked(userId, issuedAt) ? 'TOKEN_REVOKED' : null
    },

    /**
     * Exchanges a refresh token for a new pair of the same family; the one presented is spent. A spent
     * token presented again revokes its whole family (REFRESH_TOKEN_REUSED).
     */
    async refresh(refreshToken: string): Promise<TokenPair & { user: User }> {
      const outcome = rotate.immediate(hashToken(refreshToken))
      if (!outcome.ok) throw new TokenRejectedError(outcome.code, outcome.message)
      return {
        token: await signAccess(outcome.user),
        refreshToken: outcome.refreshToken,
        expiresIn: accessTtlSeconds,
        user: outcome.user,
      }
    },

    /** Revokes the family of a refresh token held by `userId`; UnknownRefreshTokenError for anyone else's. */
    logout(refreshToken: string, userId: string): void {
      const row = selectRefresh.get(hashToken(refreshToken)) as RefreshRow | undefined
      if (!row || row.user_id !== userId) {
        throw new UnknownRefreshTokenError('not a refresh token of the signed-in user')
      }
      revokeFamily.run(toIso(clock.now()), row.family_id)
    },

    /** Deletes refresh tokens past their expiry (spent ones are kept until then to detect reuse). */
    prune(): number {
      return deleteExpired.run(clock.now()).changes
    },
  }
}

export type TokenService = ReturnType<typeof createTokenService>
