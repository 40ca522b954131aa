// sessionMachine: one linked WhatsApp account, stopped → starting → qr → authenticating → ready, with
// keepalive, timeouts, restarts with capped backoff, logout and reset.
import { assign, setup } from 'xstate'
import { backoffDelay, msOf } from './backoff.ts'
import type { SessionConfig, SessionError, SessionEvent } from './session-events.ts'

/** A state the session entered, when, and the error that brought it there (for down states). */
export interface SessionStateChange {
  state: SessionState
  atMs: number
  error: SessionError | null
}

/** Bumped whenever a change would fold old events differently; stored in every event's metadata. */
// 2: the context keeps the last state changes (`history`); sessions can be resumed and deleted.
// 3: the linked number is forgotten with the login (logged out, reset, deleted).
export const SESSION_MACHINE_VERSION = 3

/** How many state changes a session's context keeps. */
export const SESSION_HISTORY_SIZE = 20

export const defaultSessionConfig: SessionConfig = {
  keepaliveMs: 30_000,
  probeTimeoutMs: 10_000,
  qrTimeoutMs: 300_000,
  authTimeoutMs: 120_000,
  startTimeoutMs: 120_000,
  restartBaseMs: 2_000,
  restartMaxMs: 300_000,
  maxRestarts: 10,
}

export interface SessionContext {
  sessionId: string
  config: SessionConfig
  /** Failures since the session was last ready (or started by an operator). */
  consecutiveFailures: number
  /** Restarts over the session's life. */
  restarts: number
  restartDelayMs: number
  lastError: SessionError | null
  phoneNumber: string | null
  qrCount: number
  /** When the current state was entered (epoch ms). */
  sinceMs: number
  /** The last state changes, oldest first (at most SESSION_HISTORY_SIZE). */
  history: SessionStateChange[]
  createdAtMs: number
  updatedAtMs: number
}

export const initialSessionContext: SessionContext = {
  sessionId: '',
  config: defaultSessionConfig,
  consecutiveFailures: 0,
  restarts: 0,
  restartDelayMs: 0,
  lastError: null,
  phoneNumber: null,
  qrCount: 0,
  sinceMs: 0,
  history: [],
  createdAtMs: 0,
  updatedAtMs: 0,
}

const atOf = (event: unknown): number | null => {
  const at = (event as { at?: unknown }).at
  return typeof at === 'string' ? msOf(at) : null
}

/** The failure an event reports; a fired timer's event is known by its delay name. */
const failureOf = (event: SessionEvent): SessionError | null => {
  switch ((event as { timer?: unknown }).timer) {
    case 'qrTimeout':
      return { code: 'QR_TIMEOUT', message: 'no one scanned the QR in time' }
    case 'authTimeout':
      return { code: 'AUTH_TIMEOUT', message: 'authentication did not finish in time' }
    case 'startTimeout':
      return { code: 'START_TIMEOUT', message: 'the engine did not start in time' }
    case 'probeTimeout':
      return { code: 'KEEPALIVE_TIMEOUT', message: 'the keepalive probe did not answer in time' }
  }
  switch (event.type) {
    case 'SessionDisconnected':
      return { code: 'DISCONNECTED', message: `disconnected: ${event.reason}` }
    case 'SessionStartFailed':
    case 'SessionProbeFailed':
    case 'SessionAuthFailed':
      return event.error
    default:
      return null
  }
}

// Operator commands: accepted in every state once the session exists (stop only where it runs).
const configure = {
  SessionConfigured: { actions: ['applyConfig', 'touch'] },
  SessionDeleted: { target: '#session.deleted' },
} as const
// The process started again while the session was coming up or ready: its engine is gone, start anew.
const resumable = {
  SessionResumed: { target: '#session.starting', reenter: true },
} as const
/** States whose entry records why the session is down. */
const DOWN_WITH_ERROR: ReadonlySet<string> = new Set(['timeout', 'restarting', 'failed', 'logged_out'])
const whileDown = {
  ...configure,
  SessionStartRequested: { target: '#session.starting', actions: 'resetFailures' },
  SessionResetRequested: {
    target: '#session.starting',
    actions: ['resetFailures', 'resetEngine', 'forgetPhoneNumber'],
  },
} as const
const whileLive = {
  ...configure,
  SessionStopRequested: { target: '#session.stopped', actions: 'stopEngine' },
  SessionLogoutRequested: { target: '#session.logged_out', actions: 'logoutEngine' },
  // Re-entering `starting` runs its startEngine after resetEngine: the runtime runs a session's effects
  // one after another, so there is never a second engine for one session.
  SessionResetRequested: {
    target: '#session.starting',
    reenter: true,
    actions: ['resetFailures', 'resetEngine', 'forgetPhoneNumber'],
  },
} as const

export const sessionMachine = setup({
  types: {} as { context: SessionContext; events: SessionEvent },
  actions: {
    // Effects, bound by src/runtime; a fold only records that they were asked for.
    startEngine: () => {},
    stopEngine: () => {},
    resetEngine: () => {},
    logoutEngine: () => {},
    probeEngine: () => {},
    discardAuth: () => {},
    /** The login is gone, and with it the account it was linked to. */
    forgetPhoneNumber: assign({ phoneNumber: null }),
    create: assign(({ event }) =>
      event.type === 'SessionCreated'
        ? {
            ...initialSessionContext,
            sessionId: event.sessionId,
            config: { ...defaultSessionConfig, ...event.config },
            createdAtMs: msOf(event.at),
          }
        : {},
    ),
    touch: assign({ updatedAtMs: ({ context, event }) => atOf(event) ?? context.updatedAtMs }),
    entered: assign(({ context, event }, params: { state: SessionState }) => {
      const atMs = atOf(event) ?? context.sinceMs
      const change: SessionStateChange = {
        state: params.state,
        atMs,
        error: DOWN_WITH_ERROR.has(params.state) ? context.lastError : null,
      }
      return { sinceMs: atMs, history: [...context.history.slice(1 - SESSION_HISTORY_SIZE), change] }
    }),
    recordFailure: assign({ lastError: ({ context, event }) => failureOf(event) ?? context.lastError }),
    countFailure: assign({ consecutiveFailures: ({ context }) => context.consecutiveFailures + 1 }),
    scheduleRestart: assign(({ context, event }) => {
      const jitter = (event as { jitter?: unknown }).jitter
      const delay = backoffDelay(
        { baseMs: context.config.restartBaseMs, maxMs: context.config.restartMaxMs },
        context.consecutiveFailures,
        typeof jitter === 'number' ? jitter : 0.5,
      )
      return { restartDelayMs: delay, restarts: context.restarts + 1 }
    }),
    resetFailures: assign({ consecutiveFailures: 0 }),
    applyConfig: assign({
      config: ({ context, event }) =>
        event.type === 'SessionConfigured' ? { ...context.config, ...event.config } : context.config,
    }),
  },
  guards: {
    isLogout: ({ event }) => event.type === 'SessionDisconnected' && event.reason === 'LOGOUT',
    // `failing` has already counted this failure: restart number n is allowed while n ≤ maxRestarts.
    mayRestart: ({ context }) => context.consecutiveFailures <= context.config.maxRestarts,
  },
  delays: {
    qrTimeout: ({ context }) => context.config.qrTimeoutMs,
    authTimeout: ({ context }) => context.config.authTimeoutMs,
    startTimeout: ({ context }) => context.config.startTimeoutMs,
    keepalive: ({ context }) => context.config.keepaliveMs,
    probeTimeout: ({ context }) => context.config.probeTimeoutMs,
    restartBackoff: ({ context }) => context.restartDelayMs,
  },
}).createMachine({
  id: 'session',
  initial: 'initial',
  context: initialSessionContext,
  states: {
    initial: {
      on: { SessionCreated: { target: 'stopped', actions: 'create' } },
    },
    stopped: {
      entry: [{ type: 'entered', params: { state: 'stopped' } }, 'touch'],
      on: { ...whileDown, SessionLogoutRequested: { target: 'logged_out' } },
    },
    // Failures while a session is coming up count towards the cap on consecutive restarts.
    starting: {
      entry: [{ type: 'entered', params: { state: 'starting' } }, 'touch', 'startEngine'],
      after: { startTimeout: { target: 'timeout', actions: 'recordFailure' } },
      on: {
        ...whileLive,
        ...resumable,
        SessionQrIssued: { target: 'qr', actions: assign({ qrCount: ({ context }) => context.qrCount + 1 }) },
        SessionAuthenticated: 'authenticating',
        SessionReady: { target: 'ready', actions: assign({ phoneNumber: ({ event }) => event.phoneNumber }) },
        SessionStartFailed: '#session.failing',
        SessionAuthFailed: { target: 'logged_out', actions: 'recordFailure' },
        SessionDisconnected: [
          { guard: 'isLogout', target: 'logged_out', actions: 'recordFailure' },
          { target: '#session.failing' },
        ],
      },
    },
    qr: {
      entry: [{ type: 'entered', params: { state: 'qr' } }, 'touch'],
      after: { qrTimeout: { target: 'stopped', actions: ['recordFailure', 'stopEngine'] } },
      on: {
        ...whileLive,
        ...resumable,
        SessionQrIssued: {
          // A fresh QR replaces the old one without restarting the scan timeout.
          actions: [assign({ qrCount: ({ context }) => context.qrCount + 1 }), 'touch'],
        },
        SessionAuthenticated: 'authenticating',
        SessionReady: { target: 'ready', actions: assign({ phoneNumber: ({ event }) => event.phoneNumber }) },
        SessionAuthFailed: { target: 'logged_out', actions: 'recordFailure' },
        SessionStartFailed: '#session.failing',
        SessionDisconnected: [
          { guard: 'isLogout', target: 'logged_out', actions: 'recordFailure' },
          { target: '#session.failing' },
        ],
      },
    },
    authenticating: {
      entry: [{ type: 'entered', params: { state: 'authenticating' } }, 'touch'],
      after: { authTimeout: { target: 'timeout', actions: 'recordFailure' } },
      on: {
        ...whileLive,
        ...resumable,
        SessionReady: { target: 'ready', actions: assign({ phoneNumber: ({ event }) => event.phoneNumber }) },
        SessionAuthFailed: { target: 'logged_out', actions: 'recordFailure' },
        SessionDisconnected: [
          { guard: 'isLogout', target: 'logged_out', actions: 'recordFailure' },
          { target: '#session.failing' },
        ],
      },
    },
    ready: {
      entry: [
        { type: 'entered', params: { state: 'ready' } },
        'touch',
        'resetFailures',
        assign({ lastError: null }),
      ],
      initial: 'idle',
      states: {
        idle: {
          after: { keepalive: 'probing' },
        },
        probing: {
          entry: ['touch', 'probeEngine'],
          after: { probeTimeout: { target: '#session.timeout', actions: 'recordFailure' } },
          on: {
            SessionProbeSucceeded: { target: 'idle', actions: 'touch' },
          },
        },
      },
      on: {
        ...whileLive,
        ...resumable,
        SessionProbeFailed: { target: 'timeout', actions: 'recordFailure' },
        SessionDisconnected: [
          { guard: 'isLogout', target: 'logged_out', actions: 'recordFailure' },
          { target: '#session.failing' },
        ],
      },
    },
    // The engine stopped answering: tear it down, then back off (SessionEngineStopped).
    timeout: {
      entry: [{ type: 'entered', params: { state: 'timeout' } }, 'touch', 'stopEngine'],
      on: {
        ...whileLive,
        SessionEngineStopped: '#session.failing',
      },
    },
    // Not a resting state: decides between another restart and giving up.
    failing: {
      entry: ['countFailure', 'recordFailure'],
      always: [
        { guard: 'mayRestart', target: 'restarting', actions: 'scheduleRestart' },
        { target: 'failed' },
      ],
    },
    restarting: {
      entry: [{ type: 'entered', params: { state: 'restarting' } }, 'touch', 'stopEngine'],
      after: { restartBackoff: 'starting' },
      on: whileLive,
    },
    failed: {
      entry: [{ type: 'entered', params: { state: 'failed' } }, 'touch', 'stopEngine'],
      on: {
        ...whileDown,
        SessionStopRequested: { target: 'stopped' },
        SessionLogoutRequested: { target: 'logged_out' },
      },
    },
    // Gone for the operator: no engine, no stored login. The same id may be created again.
    deleted: {
      entry: [
        { type: 'entered', params: { state: 'deleted' } },
        'touch',
        'stopEngine',
        'discardAuth',
        'forgetPhoneNumber',
      ],
      on: { SessionCreated: { target: 'stopped', actions: 'create' } },
    },
    logged_out: {
      entry: [
        { type: 'entered', params: { state: 'logged_out' } },
        'touch',
        'stopEngine',
        'discardAuth',
        'forgetPhoneNumber',
      ],
      on: { ...whileDown, SessionStopRequested: { target: 'stopped' } },
    },
  },
})

export type SessionMachine = typeof sessionMachine
/** The states a session shows to the outside (a `deleted` one is gone). */
export const SESSION_STATES = [
  'stopped',
  'starting',
  'qr',
  'authenticating',
  'ready',
  'timeout',
  'restarting',
  'logged_out',
  'failed',
] as const

export type SessionState = (typeof SESSION_STATES)[number] | 'deleted'
