// Kurir's error classes: each carries a stable code; the HTTP edge maps classes to statuses.

export abstract class KurirError extends Error {
  abstract readonly code: string
  readonly details: unknown
  constructor(message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.details = options?.details
  }
}

/** The caller sent something that cannot be accepted (HTTP 400). */
export class ValidationError extends KurirError {
  readonly code: string = 'VALIDATION_ERROR'
}

/** The thing named does not exist (HTTP 404). */
export class NotFoundError extends KurirError {
  readonly code: string = 'NOT_FOUND'
}

/** The machine refused the event in its current state; nothing was written (HTTP 409). */
export class IllegalStateError extends KurirError {
  readonly code = 'ILLEGAL_STATE'
}

/** Another writer moved the stream on; the caller may reload and decide again (HTTP 409). */
export class ConcurrencyError extends KurirError {
  readonly code = 'VERSION_CONFLICT'
}

/** Configuration that cannot be used; the process does not start. */
export class ConfigError extends KurirError {
  readonly code = 'CONFIG_ERROR'
}

/** The database cannot be used by this version of Kurir; the process does not start. */
export class DatabaseRefusedError extends KurirError {
  readonly code = 'DATABASE_REFUSED'
}

/** The event log holds something this version cannot read; replay stops and writes nothing. */
export class ReplayError extends KurirError {
  readonly code = 'REPLAY_ERROR'
}

/** Missing, invalid, expired or revoked credentials (HTTP 401). */
export class UnauthorizedError extends KurirError {
  readonly code: string = 'UNAUTHORIZED'
}

/** Authenticated, but the role does not allow it (HTTP 403). */
export class ForbiddenError extends KurirError {
  readonly code = 'FORBIDDEN'
}

/** The same thing already exists (HTTP 409). */
export class ConflictError extends KurirError {
  readonly code: string = 'CONFLICT'
}

/** Too many attempts; try again after `retryAfterSeconds` (HTTP 429 with `Retry-After`). */
export class TooManyRequestsError extends KurirError {
  readonly code = 'TOO_MANY_REQUESTS'
  readonly retryAfterSeconds: number
  constructor(message: string, retryAfterSeconds: number) {
    super(message, { details: { retryAfterSeconds } })
    this.retryAfterSeconds = retryAfterSeconds
  }
}
