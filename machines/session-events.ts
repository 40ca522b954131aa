// The facts of a WhatsApp session's stream (`session-<id>`), as the session machine receives them.

export interface SessionConfig {
  /** Pause between keepalive probes while `ready`. */
  keepaliveMs: number
  /** A probe that has not answered after this long counts as missed. */
  probeTimeoutMs: number
  /** How long a QR is shown before the session stops waiting for a scan. */
  qrTimeoutMs: number
  /** From scan to ready. */
  authTimeoutMs: number
  /** From start to the first QR or ready. */
  startTimeoutMs: number
  restartBaseMs: number
  restartMaxMs: number
  /** Consecutive failed restarts allowed before the session gives up (`failed`). */
  maxRestarts: number
}

export interface SessionError {
  code: string
  message: string
}

export type SessionCreated = { type: 'SessionCreated'; sessionId: string; config: SessionConfig; at: string }
export type SessionConfigured = { type: 'SessionConfigured'; config: Partial<SessionConfig>; at: string }
export type SessionStartRequested = { type: 'SessionStartRequested'; at: string }
export type SessionStopRequested = { type: 'SessionStopRequested'; at: string }
export type SessionResetRequested = { type: 'SessionResetRequested'; at: string }
export type SessionLogoutRequested = { type: 'SessionLogoutRequested'; at: string }
/** The operator deleted the session: its engine stops and its stored login is discarded. */
export type SessionDeleted = { type: 'SessionDeleted'; at: string }
/** The process started again while the session was live; the engine it had is gone. */
export type SessionResumed = { type: 'SessionResumed'; at: string }
/** A QR was shown. The QR string itself is a login secret and is never stored. */
export type SessionQrIssued = { type: 'SessionQrIssued'; at: string }
export type SessionAuthenticated = { type: 'SessionAuthenticated'; at: string }
export type SessionReady = { type: 'SessionReady'; phoneNumber: string | null; at: string }
export type SessionProbeSucceeded = { type: 'SessionProbeSucceeded'; engineState: string; at: string }
export type SessionProbeFailed = { type: 'SessionProbeFailed'; error: SessionError; at: string }
/** The connection dropped. `reason: 'LOGOUT'` means the phone unlinked Kurir. */
export type SessionDisconnected = { type: 'SessionDisconnected'; reason: string; jitter: number; at: string }
export type SessionStartFailed = {
  type: 'SessionStartFailed'
  error: SessionError
  jitter: number
  at: string
}
export type SessionAuthFailed = { type: 'SessionAuthFailed'; error: SessionError; at: string }
/** After a timeout the engine was torn down; the session now backs off before starting again. */
export type SessionEngineStopped = { type: 'SessionEngineStopped'; jitter: number; at: string }

/** Persisted timers that fired, one fact per delay the machine declares. */
export type SessionQrExpired = { type: 'SessionQrExpired'; timer: 'qrTimeout'; dueAt: string; at: string }
export type SessionAuthTimedOut = {
  type: 'SessionAuthTimedOut'
  timer: 'authTimeout'
  dueAt: string
  at: string
}
export type SessionStartTimedOut = {
  type: 'SessionStartTimedOut'
  timer: 'startTimeout'
  dueAt: string
  at: string
}
export type SessionKeepaliveDue = {
  type: 'SessionKeepaliveDue'
  timer: 'keepalive'
  dueAt: string
  at: string
}
export type SessionProbeTimedOut = {
  type: 'SessionProbeTimedOut'
  timer: 'probeTimeout'
  dueAt: string
  at: string
}
export type SessionRestartDue = {
  type: 'SessionRestartDue'
  timer: 'restartBackoff'
  dueAt: string
  at: string
}

export type SessionEvent =
  | SessionCreated
  | SessionConfigured
  | SessionStartRequested
  | SessionStopRequested
  | SessionResetRequested
  | SessionLogoutRequested
  | SessionDeleted
  | SessionResumed
  | SessionQrIssued
  | SessionAuthenticated
  | SessionReady
  | SessionProbeSucceeded
  | SessionProbeFailed
  | SessionDisconnected
  | SessionStartFailed
  | SessionAuthFailed
  | SessionEngineStopped
  | SessionQrExpired
  | SessionAuthTimedOut
  | SessionStartTimedOut
  | SessionKeepaliveDue
  | SessionProbeTimedOut
  | SessionRestartDue

export type SessionEventType = SessionEvent['type']

/** Every session event type, checked complete by the compiler. */
export const SESSION_EVENT_TYPES = Object.keys({
  SessionCreated: true,
  SessionStartRequested: true,
  SessionStopRequested: true,
  SessionResetRequested: true,
  SessionLogoutRequested: true,
  SessionDeleted: true,
  SessionResumed: true,
  SessionConfigured: true,
  SessionQrIssued: true,
  SessionAuthenticated: true,
  SessionReady: true,
  SessionProbeSucceeded: true,
  SessionProbeFailed: true,
  SessionDisconnected: true,
  SessionStartFailed: true,
  SessionAuthFailed: true,
  SessionEngineStopped: true,
  SessionQrExpired: true,
  SessionAuthTimedOut: true,
  SessionStartTimedOut: true,
  SessionKeepaliveDue: true,
  SessionProbeTimedOut: true,
  SessionRestartDue: true,
} satisfies Record<SessionEventType, true>) as SessionEventType[]
