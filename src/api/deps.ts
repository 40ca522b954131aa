// What the API needs from the rest of Kurir, as the smallest interfaces it calls.
import type { Clock } from '../clock.ts'
import type { CommandHandler } from '../core/command-handler.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import type { IdSource } from '../ids.ts'
import type { Metrics } from '../metrics.ts'
import type { SessionManager } from '../runtime/session-manager.ts'

export type Role = 'admin' | 'sender'

export interface AuthUser {
  id: string
  email: string
  role: Role
}

export interface TokenPair {
  token: string
  refreshToken: string
  expiresIn: number
}

export interface AuthDeps {
  users: {
    authenticate(email: string, password: string): Promise<AuthUser | null>
    findById(id: string): AuthUser | null
  }
  tokens: {
    issue(user: AuthUser): Promise<TokenPair>
    verifyAccess(token: string): Promise<{ userId: string; email: string; role: Role; issuedAt: number }>
    /** Why a token verified earlier no longer lets its bearer in, or null. */
    refusalOf(userId: string, issuedAt: number): 'USER_NOT_FOUND' | 'TOKEN_REVOKED' | null
    refresh(refreshToken: string): Promise<TokenPair & { user: AuthUser }>
    logout(refreshToken: string, userId: string): void | Promise<void>
  }
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY); none by default. */
  trustedProxies?: readonly string[]
  throttle: {
    /** Counts an attempt until it ends; TooManyRequestsError while the email or address may not try. */
    begin(email: string, address: string): { fail(): void; succeed(): void; release(): void }
  }
  /**
   * Where password checks for sign-in run, bounded for the whole process; throws TooManyRequestsError
   * when too many wait. Two at a time with four waiting unless given.
   */
  passwordChecks?: { run<T>(check: () => Promise<T>): Promise<T> }
}

export interface ApiLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export interface ApiDeps {
  db: Db
  store: EventStore
  clock: Clock
  auth: AuthDeps
  commands: CommandHandler
  newId: IdSource
  sessions: SessionManager
  /** Prometheus metrics: `/metrics` exists only when they are given. */
  metrics?: Metrics
  /** DATA_DIR: archive files are written under it. */
  dataDir: string
  /** For national numbers such as 0812… (DEFAULT_COUNTRY_CODE); 62 unless given. */
  defaultCountryCode?: string
  /** The simulator's controls when WA_ENGINE=simulator; its routes exist only then. */
  simulator?: { link(sessionId: string): void; disconnect(sessionId: string): void }
  log?: ApiLog
  /**
   * Where the one line per request goes (defaults to `log`). Its fields are fixed and carry no secret
   * (the path, never the query), so it may skip the redaction other lines go through.
   */
  accessLog?: ApiLog
  /** Origins allowed by CORS; none by default. */
  corsOrigins?: readonly string[]
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes?: number
  /** Aborted when the gateway shuts down: open event streams end. */
  shutdown?: AbortSignal
  /** How often an idle event stream sends a comment to keep proxies from closing it. */
  sseHeartbeatMs?: number
}

/**
 * The access token a request was let in with, for answers that outlast the request (an event stream
 * checks it again while it stays open).
 */
export interface Access {
  /** When the token stops letting its bearer in: its `exp`, in epoch milliseconds. */
  expiresAt(): number
  /**
   * Why the token no longer lets its bearer in, by the same (cached) lookup as authentication: its user
   * was removed, or changed password since it was issued. Null while it still does.
   */
  refusal(): 'USER_NOT_FOUND' | 'TOKEN_REVOKED' | null
}

/** Variables set on the request context by the API's middleware. */
export type ApiEnv = {
  Variables: {
    user: AuthUser
    access: Access
    requestId: string
  }
}
