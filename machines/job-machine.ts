// jobMachine: the lifecycle of one message, waiting → active → completed, with retries and cancels.
import { assign, setup } from 'xstate'
import { backoffDelay, msOf } from './backoff.ts'
import type { JobEvent, Priority, SendError } from './job-events.ts'

/** Bumped whenever a change would fold old events differently; stored in every event's metadata. */
export const JOB_MACHINE_VERSION = 1

export interface JobContext {
  jobId: string
  sessionId: string
  chatId: string
  body: string
  priority: Priority
  attempts: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  lastError: SendError | null
  /** When the job leaves `delayed` (epoch ms), or null. */
  nextAttemptAtMs: number | null
  /** How long the current `delayed` wait is, measured from `updatedAtMs`. */
  delayMs: number
  sendAtMs: number | null
  messageId: string | null
  idempotencyKey: string | null
  /** An attempt was interrupted by a crash: the message may have gone out twice. */
  duplicateRisk: boolean
  manualRetries: number
  createdAtMs: number
  updatedAtMs: number
}

export const initialJobContext: JobContext = {
  jobId: '',
  sessionId: '',
  chatId: '',
  body: '',
  priority: 'normal',
  attempts: 0,
  maxAttempts: 5,
  backoffBaseMs: 2000,
  backoffMaxMs: 60_000,
  lastError: null,
  nextAttemptAtMs: null,
  delayMs: 0,
  sendAtMs: null,
  messageId: null,
  idempotencyKey: null,
  duplicateRisk: false,
  manualRetries: 0,
  createdAtMs: 0,
  updatedAtMs: 0,
}

/** A fact's instant (a fired timer's event carries the timer fact's `at`). */
const atOf = (event: unknown): number | null => {
  const at = (event as { at?: unknown }).at
  return typeof at === 'string' ? msOf(at) : null
}

const interruptedError: SendError = {
  code: 'INTERRUPTED',
  message: 'the process stopped while the message was being sent',
  retryable: true,
}

export const jobMachine = setup({
  types: {} as { context: JobContext; events: JobEvent },
  actions: {
    // Effects, bound by src/runtime; a fold only records that they were asked for.
    sendMessage: () => {},
    wakeDispatcher: () => {},
    reportCompleted: () => {},
    reportFailed: () => {},
    // Every fact carries its instant. Transitions that change more fold the instant into their own
    // assign: one context copy per event keeps a fold cheap.
    touch: assign({ updatedAtMs: ({ context, event }) => atOf(event) ?? context.updatedAtMs }),
    /** An attempt that did not count (a rate limit, a send withdrawn before the engine) is given back. */
    giveAttemptBack: assign(({ context, event }) => ({
      attempts: context.attempts - 1,
      updatedAtMs: atOf(event) ?? context.updatedAtMs,
    })),
  },
  guards: {
    scheduledForLater: ({ event }) =>
      event.type === 'JobQueued' && event.sendAt !== null && msOf(event.sendAt) > msOf(event.at),
    isCurrentAttempt: ({ context, event }) => 'attempt' in event && event.attempt === context.attempts,
    isNextAttempt: ({ context, event }) =>
      event.type === 'JobAttemptStarted' && event.attempt === context.attempts + 1,
    canRetry: ({ context, event }) =>
      event.type === 'JobAttemptFailed' &&
      event.attempt === context.attempts &&
      event.error.retryable &&
      context.attempts < context.maxAttempts,
    canRetryInterrupted: ({ context, event }) =>
      event.type === 'JobAttemptInterrupted' &&
      event.attempt === context.attempts &&
      event.retry &&
      context.attempts < context.maxAttempts,
  },
  delays: {
    untilDue: ({ context }) => context.delayMs,
  },
}).createMachine({
  id: 'job',
  initial: 'initial',
  context: initialJobContext,
  states: {
    initial: {
      on: {
        JobQueued: [
          {
            guard: 'scheduledForLater',
            target: 'delayed',
            actions: assign(({ event }) => {
              const sendAt = msOf(event.sendAt ?? event.at)
              return { ...queuedContext(event), nextAttemptAtMs: sendAt, delayMs: sendAt - msOf(event.at) }
            }),
          },
          { target: 'waiting', actions: assign(({ event }) => queuedContext(event)) },
        ],
      },
    },
    waiting: {
      entry: 'wakeDispatcher',
      on: {
        JobAttemptStarted: {
          guard: 'isNextAttempt',
          target: 'active',
          actions: assign(({ event }) => ({
            attempts: event.attempt,
            nextAttemptAtMs: null,
            updatedAtMs: msOf(event.at),
          })),
        },
        JobCancelled: { target: 'cancelled', actions: 'touch' },
      },
    },
    active: {
      entry: 'sendMessage',
      on: {
        JobSent: {
          guard: 'isCurrentAttempt',
          target: 'completed',
          actions: assign(({ event }) => ({
            messageId: event.messageId,
            lastError: null,
            updatedAtMs: msOf(event.at),
          })),
        },
        JobAttemptFailed: [
          {
            guard: 'canRetry',
            target: 'delayed',
            actions: assign(({ context, event }) => {
              const delayMs = backoffDelay(
                { baseMs: context.backoffBaseMs, maxMs: context.backoffMaxMs },
                event.attempt,
                event.jitter,
              )
              const at = msOf(event.at)
              return { lastError: event.error, delayMs, nextAttemptAtMs: at + delayMs, updatedAtMs: at }
            }),
          },
          {
            guard: 'isCurrentAttempt',
            target: 'failed',
            actions: assign(({ event }) => ({
              lastError: event.error,
              nextAttemptAtMs: null,
              updatedAtMs: msOf(event.at),
            })),
          },
        ],
        JobRateLimited: { guard: 'isCurrentAttempt', target: 'waiting', actions: 'giveAttemptBack' },
        JobAttemptWithdrawn: { guard: 'isCurrentAttempt', target: 'waiting', actions: 'giveAttemptBack' },
        JobAttemptInterrupted: [
          {
            guard: 'canRetryInterrupted',
            target: 'waiting',
            actions: assign(({ event }) => ({
              duplicateRisk: true,
              lastError: interruptedError,
              updatedAtMs: msOf(event.at),
            })),
          },
          {
            guard: 'isCurrentAttempt',
            target: 'failed',
            actions: assign(({ event }) => ({
              duplicateRisk: true,
              lastError: { ...interruptedError, retryable: false },
              updatedAtMs: msOf(event.at),
            })),
          },
        ],
      },
    },
    delayed: {
      after: {
        untilDue: {
          target: 'waiting',
          actions: assign(({ context, event }) => ({
            nextAttemptAtMs: null,
            delayMs: 0,
            updatedAtMs: atOf(event) ?? context.updatedAtMs,
          })),
        },
      },
      on: {
        JobCancelled: {
          target: 'cancelled',
          actions: assign(({ event }) => ({ nextAttemptAtMs: null, updatedAtMs: msOf(event.at) })),
        },
      },
    },
    completed: { type: 'final', entry: 'reportCompleted' },
    failed: {
      entry: 'reportFailed',
      on: {
        JobRetryRequested: {
          target: 'waiting',
          actions: assign(({ context, event }) => ({
            attempts: 0,
            manualRetries: context.manualRetries + 1,
            nextAttemptAtMs: null,
            updatedAtMs: msOf(event.at),
          })),
        },
      },
    },
    cancelled: { type: 'final' },
  },
})

function queuedContext(event: Extract<JobEvent, { type: 'JobQueued' }>): JobContext {
  const at = msOf(event.at)
  return {
    ...initialJobContext,
    jobId: event.jobId,
    sessionId: event.sessionId,
    chatId: event.chatId,
    body: event.body,
    priority: event.priority,
    maxAttempts: event.maxAttempts,
    backoffBaseMs: event.backoffBaseMs,
    backoffMaxMs: event.backoffMaxMs,
    sendAtMs: event.sendAt === null ? null : msOf(event.sendAt),
    idempotencyKey: event.idempotencyKey,
    createdAtMs: at,
    updatedAtMs: at,
  }
}

export type JobMachine = typeof jobMachine
export type JobStatus = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'cancelled'
