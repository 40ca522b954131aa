// Schemas shared by several routes, with their OpenAPI names.
import { z } from '@hono/zod-openapi'

export const ErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.string().openapi({ example: 'VALIDATION_ERROR' }),
      message: z.string(),
      details: z.unknown().openapi({ description: 'more about the error; null when there is nothing more' }),
    }),
  })
  .openapi('Error')

/** The error responses a route can give, by status, for its OpenAPI entry. */
export const errors = (...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 429)[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: ERROR_DESCRIPTIONS[s], content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  )

const ERROR_DESCRIPTIONS = {
  400: 'Invalid input; nothing was changed',
  401: 'Missing, invalid or expired credentials',
  403: 'Not allowed for this role',
  404: 'Not found',
  409: 'Not allowed in the current state',
  413: 'Request body too large',
  415: 'Request body is not JSON',
  429: 'Too many attempts; see Retry-After',
} as const

export const bearer = [{ bearerAuth: [] }]

/** Half of a surrogate pair without its other half: JSON can write one (`"\\ud83d"`), UTF-8 cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Text that can be stored and sent as it came: one with a lone surrogate would be stored as U+FFFD,
 * sent garbled, and no longer equal to itself when asked again.
 */
export const text = () =>
  z.string().refine((s) => !LONE_SURROGATE.test(s), {
    message: 'not valid Unicode text: half of a surrogate pair (\\uD800-\\uDFFF) without the other half',
    abort: true,
  })

/**
 * A whole number in a query string, in decimal digits only: no sign, exponent, hex, blank or repeat
 * (`limit=1e3`, `limit=0x10`, `after=` and `limit=2&limit=3` are 400s, not guesses).
 */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
