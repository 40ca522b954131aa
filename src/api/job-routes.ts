// Messages over HTTP: send-message (202 once the job is durable), a job, the job list, retry and cancel
// one job, and the retry queue — for the default session under /api/whatsapp and for any session under
// /api/sessions/{id}.
import { OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { LAST_FOUR_DIGIT_YEAR_MS } from '../clock.ts'
import { streamIds } from '../core/aggregates.ts'
import type { CommandHandler } from '../core/command-handler.ts'
import { oneAtATime } from '../core/one-at-a-time.ts'
import { toChatId } from '../core/recipient.ts'
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { IdSource } from '../ids.ts'
import { queueConfigReader } from '../projections/queue-state.ts'
import { DEFAULT_SESSION, type SessionManager } from '../runtime/session-manager.ts'
import type { ApiEnv } from './deps.ts'
import { JobSchema, jobReader, RETRY_QUEUE_LIMIT } from './job-read.ts'
import { errors, queryInt, text } from './schemas.ts'
import { scoped } from './scoped.ts'

/** WhatsApp's own limit on a text message. */
export const MAX_MESSAGE_LENGTH = 65_536

const SendBody = z
  .object({
    number: z.string().max(64).optional().openapi({ example: '0812-3456-7890' }),
    chatId: z.string().max(64).optional().openapi({ example: '6281234567890@c.us' }),
    message: text()
      .max(MAX_MESSAGE_LENGTH)
      .refine((m) => m.trim().length > 0, 'the message is empty'),
    priority: z.enum(['high', 'normal', 'low']).default('normal'),
    sendAt: z.iso
      .datetime({ offset: true })
      .refine((t) => {
        const ms = Date.parse(t)
        return ms >= 0 && ms <= LAST_FOUR_DIGIT_YEAR_MS
      }, 'a time from 1970 to 9999 (UTC)')
      .optional()
      .openapi({ description: 'send at this time' }),
    idempotencyKey: text()
      .min(1)
      .max(200)
      .refine((k) => k.trim() === k, 'an idempotency key has no spaces at its ends')
      .optional(),
  })
  .strict()
  .refine((b) => (b.number === undefined) !== (b.chatId === undefined), {
    message: 'give either number or chatId',
    path: ['number'],
  })
  .openapi('SendMessage')

const IdempotencyHeader = z.object({
  // A header's bytes reach Node as Latin-1, so UTF-8 text would be stored garbled: such keys go in the body.
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x20-\x7e]+$/, 'printable ASCII in the header; send other keys as idempotencyKey in the body')
    .optional(),
})

const Queued = z
  .object({
    success: z.literal(true),
    queued: z.literal(true),
    jobId: z.string(),
    status: z.string(),
    /** True when an earlier send with the same idempotency key is answered. */
    duplicate: z.boolean(),
  })
  .openapi('Queued')

const JobParams = z.object({
  jobId: z
    .string()
    .regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'a job id (ULID)')
    .openapi({ param: { name: 'jobId', in: 'path' } }),
})

const ListQuery = z.object({
  status: z.enum(['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled']).optional(),
  limit: queryInt(1, 500).default(50),
  cursor: z.string().max(200).optional(),
})

const RetryQueueQuery = z.object({
  limit: queryInt(1, RETRY_QUEUE_LIMIT)
    .default(RETRY_QUEUE_LIMIT)
    .openapi({ description: 'at most this many jobs in each list' }),
})

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })

export interface JobRoutesDeps {
  db: Db
  commands: CommandHandler
  sessions: SessionManager
  newId: IdSource
  clock: { now(): number }
  defaultCountryCode: string
  log?: { info(obj: object, msg: string): void }
}

/**
 * @example
 * app.route('/', jobRoutes({ db, commands, sessions, newId, clock, defaultCountryCode: '62' }))
 */
export const jobRoutes = (deps: JobRoutesDeps) => {
  const { db, commands, sessions, newId, clock } = deps
  const app = new OpenAPIHono<ApiEnv>()
  const jobs = jobReader(db)
  const configOf = queueConfigReader(db)
  const byKey = db.prepare(
    'SELECT id, status, chat_id, body, priority, send_at FROM jobs WHERE session_id = ? AND idempotency_key = ?',
  )
  // Sends with one idempotency key are decided one at a time: the second sees the first's job.
  const keyed = oneAtATime()

  const sessionMustExist = (sessionId: string) => {
    if (sessionId !== DEFAULT_SESSION && !sessions.exists(sessionId)) {
      throw new NotFoundError(`no session '${sessionId}'`, { details: { sessionId } })
    }
  }

  const jobOf = (sessionId: string, jobId: string) => {
    const job = jobs.get(jobId)
    if (!job || job.sessionId !== sessionId) {
      throw new NotFoundError(`no job ${jobId} in session '${sessionId}'`, { details: { jobId } })
    }
    return job
  }

  const send = async (c: Context<ApiEnv>, sessionId: string) => {
    sessionMustExist(sessionId)
    const body = (c.req.valid as (t: 'json') => z.infer<typeof SendBody>)('json')
    const header = c.req.header('Idempotency-Key')
    if (body.idempotencyKey !== undefined && header !== undefined && header !== body.idempotencyKey) {
      throw new ValidationError('the Idempotency-Key header and the body name two different keys', {
        details: { header, body: body.idempotencyKey },
      })
    }
    const key = body.idempotencyKey ?? header
    if (key !== undefined && (key.length === 0 || key.length > 200)) {
      throw new ValidationError('an idempotency key is 1 to 200 characters')
    }
    const chatId = toChatId(body, deps.defaultCountryCode)
    const sendAt = body.sendAt ? new Date(body.sendAt).toISOString() : null
    const enqueue = async () => {
      if (key !== undefined) {
        const earlier = byKey.get(sessionId, key) as
          | {
              id: string
              status: string
              chat_id: string
              body: string
              priority: string
              send_at: string | null
            }
          | undefined
        if (earlier) {
          // The same request is the same recipient, message, priority and time to send.
          const differs = [
            earlier.chat_id !== chatId && 'recipient',
            earlier.body !== body.message && 'message',
            earlier.priority !== body.priority && 'priority',
            earlier.send_at !== sendAt && 'sendAt',
          ].filter((field): field is string => field !== false)
          if (differs.length > 0) {
            throw new ConflictError('this idempotency key was used for another message', {
              details: { idempotencyKey: key, jobId: earlier.id, differs },
            })
          }
          return { jobId: earlier.id, status: earlier.status, duplicate: true }
        }
      }
      const config = configOf(sessionId)
      const jobId = newId()
      const at = new Date(clock.now()).toISOString()
      const result = await commands.execute(
        streamIds.job(jobId),
        () => [
          {
            type: 'JobQueued',
            data: {
              jobId,
              sessionId,
              chatId,
              body: body.message,
              priority: body.priority,
              maxAttempts: config.maxAttempts,
              backoffBaseMs: config.backoffBaseMs,
              backoffMaxMs: config.backoffMaxMs,
              sendAt,
              idempotencyKey: key ?? null,
              at,
            },
          },
        ],
        { actor: `user:${c.get('user').id}` },
      )
      const status = String(result.snapshot.value)
      deps.log?.info({ sessionId, jobId, priority: body.priority, status }, 'message queued')
      return { jobId, status, duplicate: false }
    }
    const outcome = key === undefined ? await enqueue() : await keyed(`${sessionId}\u0000${key}`, enqueue)
    return c.json({ success: true as const, queued: true as const, ...outcome }, 202)
  }

  scoped(
    app,
    {
      method: 'post',
      sub: '/send-message',
      tags: ['messages'],
      summary: 'Queue a text message; answered once the job is durable',
      admin: false,
      body: SendBody,
      headers: IdempotencyHeader,
      responses: {
        202: { description: 'Queued (or the earlier job of this idempotency key)', ...json(Queued) },
        ...errors(400, 401, 404, 409, 413, 415),
      },
    },
    send,
  )

  scoped(
    app,
    {
      method: 'get',
      sub: '/jobs/{jobId}',
      tags: ['messages'],
      summary: 'One job',
      admin: false,
      params: JobParams,
      responses: { 200: { description: 'The job', ...json(JobSchema) }, ...errors(400, 401, 404) },
    },
    (c, sessionId) => c.json(jobOf(sessionId, c.req.param('jobId') as string), 200),
  )

  scoped(
    app,
    {
      method: 'get',
      sub: '/jobs',
      tags: ['messages'],
      summary: 'A page of jobs, newest first; `cursor` from the previous page',
      admin: false,
      query: ListQuery,
      responses: {
        200: {
          description: 'Jobs',
          ...json(z.object({ jobs: z.array(JobSchema), nextCursor: z.string().nullable() })),
        },
        ...errors(400, 401, 404),
      },
    },
    (c, sessionId) => {
      sessionMustExist(sessionId)
      const q = ListQuery.parse(c.req.query())
      return c.json(jobs.page(sessionId, q), 200)
    },
  )

  const operate = (sub: string, summary: string, fact: (reason: string) => { type: string; data: object }) =>
    scoped(
      app,
      {
        method: 'post',
        sub: `/jobs/{jobId}${sub}`,
        tags: ['messages'],
        summary,
        admin: false,
        params: JobParams,
        responses: { 200: { description: 'The job now', ...json(JobSchema) }, ...errors(400, 401, 404, 409) },
      },
      async (c, sessionId) => {
        const jobId = c.req.param('jobId') as string
        jobOf(sessionId, jobId)
        const f = fact(`by ${c.get('user').email}`)
        await commands.execute(
          streamIds.job(jobId),
          () => [{ type: f.type, data: { ...f.data, at: new Date(clock.now()).toISOString() } }],
          { actor: `user:${c.get('user').id}` },
        )
        return c.json(jobOf(sessionId, jobId), 200)
      },
    )
  operate('/retry', 'Retry a failed job (attempts start again)', () => ({
    type: 'JobRetryRequested',
    data: {},
  }))
  operate('/cancel', 'Cancel a waiting or delayed job', (reason) => ({
    type: 'JobCancelled',
    data: { reason: `cancelled ${reason}` },
  }))

  scoped(
    app,
    {
      method: 'get',
      sub: '/retry-queue',
      tags: ['messages'],
      summary: 'Jobs delayed for a retry and jobs that failed, the latest changed first',
      admin: false,
      query: RetryQueueQuery,
      responses: {
        200: {
          description:
            'The retry queue. `truncated` says which list has more jobs than `limit`: page through them ' +
            'with GET …/jobs?status=delayed or ?status=failed.',
          ...json(
            z.object({
              delayed: z.array(JobSchema),
              failed: z.array(JobSchema),
              truncated: z.object({ delayed: z.boolean(), failed: z.boolean() }),
            }),
          ),
        },
        ...errors(400, 401, 404),
      },
    },
    (c, sessionId) => {
      sessionMustExist(sessionId)
      const { limit } = RetryQueueQuery.parse(c.req.query())
      return c.json(jobs.retryQueue(sessionId, limit), 200)
    },
  )

  return app
}
