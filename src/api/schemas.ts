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
