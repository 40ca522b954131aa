// The event catalogue: every fact Kurir writes, with its schema version and the shape of its data.
// Core validates each event against it before appending; replay refuses types and versions not here.
import { z } from 'zod'
import type { StreamType } from './aggregates.ts'

const at = z.iso.datetime({ offset: false }).describe('when it happened (ISO 8601 UTC)')
const jitter = z.number().min(0).max(1).describe('random sample in [0, 1] drawn before the append')
const attempt = z.number().int().min(1)
const errorShape = z.object({ code: z.string().min(1), message: z.string() })
const sendError = errorShape.extend({ retryable: z.boolean() })
const timerFact = <T extends string>(timer: T) =>
  z.object({ timer: z.literal(timer), dueAt: z.iso.datetime({ offset: false }), at })

const positiveMs = z.number().int().min(0)

export const sessionConfigSchema = z.object({
  keepaliveMs: z.number().int().min(1000),
  probeTimeoutMs: z.number().int().min(100),
  qrTimeoutMs: z.number().int().min(1000),
  authTimeoutMs: z.number().int().min(1000),
  startTimeoutMs: z.number().int().min(1000),
  restartBaseMs: positiveMs,
  restartMaxMs: positiveMs,
  maxRestarts: z.number().int().min(0),
})

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
/** A duration of at most `max` ms: every wait a setting makes stays a time the clock can name. */
export const msUpTo = (max: number) => z.number().int().min(0).max(max)

export const queueConfigSchema = z.object({
  concurrency: z.number().int().min(1).max(100),
  maxAttempts: z.number().int().min(1).max(100),
  backoffBaseMs: msUpTo(DAY_MS),
  backoffMaxMs: msUpTo(7 * DAY_MS),
  rateLimitCooldownMs: msUpTo(DAY_MS),
  sendIntervalMs: msUpTo(HOUR_MS),
  maxPerMinute: z.number().int().min(0).max(100_000),
  sameChatGapMs: msUpTo(DAY_MS),
  paceSpreadMs: msUpTo(HOUR_MS),
  onInterrupted: z.enum(['retry', 'fail']),
})

export const jobEventSchemas = {
  JobQueued: z.object({
    jobId: z.string().min(1),
    sessionId: z.string().min(1),
    chatId: z.string().min(1),
    body: z.string(),
    priority: z.enum(['high', 'normal', 'low']),
    maxAttempts: z.number().int().min(1),
    backoffBaseMs: positiveMs,
    backoffMaxMs: positiveMs,
    sendAt: z.iso.datetime({ offset: false }).nullable(),
    idempotencyKey: z.string().nullable(),
    at,
  }),
  JobAttemptStarted: z.object({ attempt, at }),
  JobSent: z.object({ attempt, messageId: z.string().min(1), at }),
  JobAttemptFailed: z.object({ attempt, error: sendError, jitter, at }),
  JobRateLimited: z.object({ attempt, at }),
  JobAttemptWithdrawn: z.object({ attempt, at }),
  JobAttemptInterrupted: z.object({ attempt, retry: z.boolean(), at }),
  JobDue: timerFact('untilDue'),
  JobCancelled: z.object({ reason: z.string(), at }),
  JobRetryRequested: z.object({ at }),
} as const

export const sessionEventSchemas = {
  SessionCreated: z.object({ sessionId: z.string().min(1), config: sessionConfigSchema, at }),
  SessionConfigured: z.object({ config: sessionConfigSchema.partial(), at }),
  SessionStartRequested: z.object({ at }),
  SessionStopRequested: z.object({ at }),
  SessionResetRequested: z.object({ at }),
  SessionLogoutRequested: z.object({ at }),
  SessionDeleted: z.object({ at }),
  SessionResumed: z.object({ at }),
  SessionQrIssued: z.object({ at }),
  SessionAuthenticated: z.object({ at }),
  SessionReady: z.object({ phoneNumber: z.string().nullable(), at }),
  SessionProbeSucceeded: z.object({ engineState: z.string(), at }),
  SessionProbeFailed: z.object({ error: errorShape, at }),
  SessionDisconnected: z.object({ reason: z.string(), jitter, at }),
  SessionStartFailed: z.object({ error: errorShape, jitter, at }),
  SessionAuthFailed: z.object({ error: errorShape, at }),
  SessionEngineStopped: z.object({ jitter, at }),
  SessionQrExpired: timerFact('qrTimeout'),
  SessionAuthTimedOut: timerFact('authTimeout'),
  SessionStartTimedOut: timerFact('startTimeout'),
  SessionKeepaliveDue: timerFact('keepalive'),
  SessionProbeTimedOut: timerFact('probeTimeout'),
  SessionRestartDue: timerFact('restartBackoff'),
} as const

export const queueEventSchemas = {
  QueueConfigured: z.object({ changes: queueConfigSchema.partial(), at }),
  QueuePaused: z.object({ at }),
  QueueResumed: z.object({ at }),
  QueueCleared: z.object({ cancelled: z.number().int().min(0), at }),
  QueueJobsArchived: z.object({
    jobs: z.number().int().min(0),
    events: z.number().int().min(0),
    finishedBefore: at,
    file: z.string().min(1),
    at,
  }),
  QueueCooldownStarted: z.object({ reason: z.string(), at }),
  QueueCooldownEnded: timerFact('cooldown'),
} as const

export type EventSchemas = Record<string, z.ZodObject>

/** The schemas of each stream type's events. */
export const eventSchemasOf: Record<StreamType, EventSchemas> = {
  job: jobEventSchemas,
  session: sessionEventSchemas,
  queue: queueEventSchemas,
}
