// Fact builders for tests: valid payloads with sensible defaults, overridable field by field.

import { defaultSessionConfig } from '../../machines/session-machine.ts'
import type { Fact } from '../../src/core/command-handler.ts'

export const T0 = Date.parse('2026-01-05T08:00:00.000Z')
export const iso = (ms: number) => new Date(ms).toISOString()
export const at = (offsetMs = 0) => iso(T0 + offsetMs)

const fact = (type: string, data: Record<string, unknown>): Fact => ({ type, data })

export const job = {
  queued: (o: Record<string, unknown> = {}) =>
    fact('JobQueued', {
      jobId: '01JTEST0000000000000000001',
      sessionId: 'default',
      chatId: '6281234567890@c.us',
      body: 'Invoice 42 is due',
      priority: 'normal',
      maxAttempts: 5,
      backoffBaseMs: 2000,
      backoffMaxMs: 60_000,
      sendAt: null,
      idempotencyKey: null,
      at: at(),
      ...o,
    }),
  started: (attempt: number, o: Record<string, unknown> = {}) =>
    fact('JobAttemptStarted', { attempt, at: at(), ...o }),
  sent: (attempt: number, o: Record<string, unknown> = {}) =>
    fact('JobSent', { attempt, messageId: `msg-${attempt}`, at: at(), ...o }),
  failed: (attempt: number, error: { code?: string; retryable: boolean }, o: Record<string, unknown> = {}) =>
    fact('JobAttemptFailed', {
      attempt,
      error: {
        code: error.code ?? (error.retryable ? 'NETWORK_TIMEOUT' : 'NOT_REGISTERED'),
        message: 'x',
        retryable: error.retryable,
      },
      jitter: 0.5,
      at: at(),
      ...o,
    }),
  rateLimited: (attempt: number, o: Record<string, unknown> = {}) =>
    fact('JobRateLimited', { attempt, at: at(), ...o }),
  withdrawn: (attempt: number, o: Record<string, unknown> = {}) =>
    fact('JobAttemptWithdrawn', { attempt, at: at(), ...o }),
  interrupted: (attempt: number, retry: boolean, o: Record<string, unknown> = {}) =>
    fact('JobAttemptInterrupted', { attempt, retry, at: at(), ...o }),
  due: (o: Record<string, unknown> = {}) =>
    fact('JobDue', { timer: 'untilDue', dueAt: at(), at: at(), ...o }),
  cancelled: (o: Record<string, unknown> = {}) =>
    fact('JobCancelled', { reason: 'by operator', at: at(), ...o }),
  retryRequested: (o: Record<string, unknown> = {}) => fact('JobRetryRequested', { at: at(), ...o }),
}

const timerFact =
  (type: string, timer: string) =>
  (o: Record<string, unknown> = {}) =>
    fact(type, { timer, dueAt: at(), at: at(), ...o })

export const session = {
  created: (o: Record<string, unknown> = {}) =>
    fact('SessionCreated', { sessionId: 'default', config: defaultSessionConfig, at: at(), ...o }),
  configured: (config: Record<string, unknown>) => fact('SessionConfigured', { config, at: at() }),
  startRequested: () => fact('SessionStartRequested', { at: at() }),
  stopRequested: () => fact('SessionStopRequested', { at: at() }),
  resetRequested: () => fact('SessionResetRequested', { at: at() }),
  logoutRequested: () => fact('SessionLogoutRequested', { at: at() }),
  deleted: () => fact('SessionDeleted', { at: at() }),
  resumed: () => fact('SessionResumed', { at: at() }),
  qrIssued: () => fact('SessionQrIssued', { at: at() }),
  authenticated: () => fact('SessionAuthenticated', { at: at() }),
  ready: (phoneNumber: string | null = '6281200000000') => fact('SessionReady', { phoneNumber, at: at() }),
  probeSucceeded: () => fact('SessionProbeSucceeded', { engineState: 'CONNECTED', at: at() }),
  probeFailed: () =>
    fact('SessionProbeFailed', { error: { code: 'PROBE_FAILED', message: 'no answer' }, at: at() }),
  disconnected: (reason = 'NAVIGATION', jitter = 0.5) =>
    fact('SessionDisconnected', { reason, jitter, at: at() }),
  startFailed: (jitter = 0.5) =>
    fact('SessionStartFailed', {
      error: { code: 'NETWORK', message: 'net::ERR_NAME_NOT_RESOLVED' },
      jitter,
      at: at(),
    }),
  authFailed: () =>
    fact('SessionAuthFailed', { error: { code: 'AUTH_FAILURE', message: 'bad session' }, at: at() }),
  engineStopped: (jitter = 0.5) => fact('SessionEngineStopped', { jitter, at: at() }),
  qrExpired: timerFact('SessionQrExpired', 'qrTimeout'),
  authTimedOut: timerFact('SessionAuthTimedOut', 'authTimeout'),
  startTimedOut: timerFact('SessionStartTimedOut', 'startTimeout'),
  keepaliveDue: timerFact('SessionKeepaliveDue', 'keepalive'),
  probeTimedOut: timerFact('SessionProbeTimedOut', 'probeTimeout'),
  restartDue: timerFact('SessionRestartDue', 'restartBackoff'),
}

export const queue = {
  configured: (changes: Record<string, unknown>) => fact('QueueConfigured', { changes, at: at() }),
  paused: () => fact('QueuePaused', { at: at() }),
  resumed: () => fact('QueueResumed', { at: at() }),
  cleared: (cancelled = 0) => fact('QueueCleared', { cancelled, at: at() }),
  jobsArchived: () =>
    fact('QueueJobsArchived', {
      jobs: 2,
      events: 6,
      finishedBefore: at(-86_400_000),
      file: 'archive/events.ndjson',
      at: at(),
    }),
  cooldownStarted: () => fact('QueueCooldownStarted', { reason: 'RATE_LIMITED', at: at() }),
  cooldownEnded: timerFact('QueueCooldownEnded', 'cooldown'),
}

/** A job sent on its second attempt, after a retryable failure and its backoff. */
export const jobSentOnSecondAttempt = () => [
  job.queued(),
  job.started(1),
  job.failed(1, { retryable: true }),
  job.due(),
  job.started(2),
  job.sent(2),
]
