// The facts of a message job's stream (`job-<ulid>`), as the job machine receives them.

export type Priority = 'high' | 'normal' | 'low'

/** Why a send did not go through. `code` names the class of error; `retryable` decides the path. */
export interface SendError {
  code: string
  message: string
  retryable: boolean
}

export type JobQueued = {
  type: 'JobQueued'
  jobId: string
  sessionId: string
  chatId: string
  body: string
  priority: Priority
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  /** A scheduled send waits in `delayed` until then. */
  sendAt: string | null
  idempotencyKey: string | null
  at: string
}

export type JobAttemptStarted = { type: 'JobAttemptStarted'; attempt: number; at: string }

export type JobSent = { type: 'JobSent'; attempt: number; messageId: string; at: string }

/** `jitter` ∈ [0, 1) was drawn before the append; the machine turns it into the backoff delay. */
export type JobAttemptFailed = {
  type: 'JobAttemptFailed'
  attempt: number
  error: SendError
  jitter: number
  at: string
}

/** WhatsApp asked us to slow down: the attempt is given back and the job waits again. */
export type JobRateLimited = { type: 'JobRateLimited'; attempt: number; at: string }

/**
 * The session stopped being ready after the attempt's start was recorded and before the engine was
 * called: nothing was sent, the attempt is given back and the job waits again.
 */
export type JobAttemptWithdrawn = { type: 'JobAttemptWithdrawn'; attempt: number; at: string }

/** The process stopped while this attempt was in flight; the message may or may not have gone out. */
export type JobAttemptInterrupted = {
  type: 'JobAttemptInterrupted'
  attempt: number
  retry: boolean
  at: string
}

/** The persisted `untilDue` timer fired: a retry backoff or a scheduled send time has come. */
export type JobDue = { type: 'JobDue'; timer: 'untilDue'; dueAt: string; at: string }

export type JobCancelled = { type: 'JobCancelled'; reason: string; at: string }

export type JobRetryRequested = { type: 'JobRetryRequested'; at: string }

export type JobEvent =
  | JobQueued
  | JobAttemptStarted
  | JobSent
  | JobAttemptFailed
  | JobRateLimited
  | JobAttemptWithdrawn
  | JobAttemptInterrupted
  | JobDue
  | JobCancelled
  | JobRetryRequested

export type JobEventType = JobEvent['type']

export const JOB_EVENT_TYPES: readonly JobEventType[] = [
  'JobQueued',
  'JobAttemptStarted',
  'JobSent',
  'JobAttemptFailed',
  'JobRateLimited',
  'JobAttemptWithdrawn',
  'JobAttemptInterrupted',
  'JobDue',
  'JobCancelled',
  'JobRetryRequested',
]
