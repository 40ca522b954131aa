// One error shape for every failure the API answers, and the mapping from Kurir's error classes to it.
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import {
  ConcurrencyError,
  ConflictError,
  ForbiddenError,
  IllegalStateError,
  KurirError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationError,
} from '../errors.ts'
import { busyCodeOf } from '../eventlog/database.ts'

/** What a caller is asked to wait when the database is busy with another process. */
const BUSY_RETRY_AFTER_SECONDS = 2

export interface ErrorBody {
  success: false
  /** `details` is always there: null when the error has nothing to add. */
  error: { code: string; message: string; details: unknown }
}

export const errorBody = (code: string, message: string, details?: unknown): ErrorBody => ({
  success: false,
  error: { code, message, details: details ?? null },
})

/** Codes of the errors Hono itself raises, by status. */
const HTTP_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
}

const statusOf = (err: KurirError): ContentfulStatusCode => {
  if (err instanceof ValidationError) return 400
  if (err instanceof UnauthorizedError) return 401
  if (err instanceof ForbiddenError) return 403
  if (err instanceof NotFoundError) return 404
  if (err instanceof IllegalStateError || err instanceof ConcurrencyError || err instanceof ConflictError)
    return 409
  if (err instanceof TooManyRequestsError) return 429
  return 500
}

/**
 * The response for an error thrown anywhere below the app; anything unexpected is a 500 and is logged.
 *
 * @example
 * app.onError((err, c) => toErrorResponse(err, c, log))
 */
export const toErrorResponse = (
  err: unknown,
  c: Context,
  log?: { error: (obj: object, msg: string) => void; warn?: (obj: object, msg: string) => void },
): Response => {
  if (err instanceof KurirError) {
    const status = statusOf(err)
    if (status === 500) {
      log?.error({ err, reqId: c.get('requestId'), path: c.req.path }, 'request failed')
      return c.json(errorBody('INTERNAL', 'internal error'), 500)
    }
    if (err instanceof TooManyRequestsError) c.header('Retry-After', String(err.retryAfterSeconds))
    if (status === 401) c.header('WWW-Authenticate', 'Bearer')
    return c.json(errorBody(err.code, err.message, err.details), status)
  }
  if (err instanceof HTTPException && err.status < 500) {
    const malformed = err.message === 'Malformed JSON in request body'
    const code = malformed ? 'MALFORMED_JSON' : (HTTP_CODES[err.status] ?? 'BAD_REQUEST')
    return c.json(errorBody(code, err.message || code.toLowerCase().replaceAll('_', ' ')), err.status)
  }
  const busy = busyCodeOf(err) ?? busyCodeOf((err as { cause?: unknown } | null)?.cause)
  if (busy !== null) {
    // Another process (a `kurir` command, a backup) held the database past the busy timeout: nothing
    // was changed, and the same request may succeed in a moment.
    log?.warn?.({ reqId: c.get('requestId'), path: c.req.path, code: busy }, 'the database is busy')
    c.header('Retry-After', String(BUSY_RETRY_AFTER_SECONDS))
    return c.json(
      errorBody('DATABASE_BUSY', 'the database is busy with another process; try again shortly', {
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      }),
      503,
    )
  }
  log?.error({ err, reqId: c.get('requestId'), path: c.req.path }, 'request failed')
  return c.json(errorBody('INTERNAL', 'internal error'), 500)
}
