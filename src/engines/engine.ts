// The WhatsAppEngine port: what Kurir asks of a WhatsApp connection, and what it hears back. Adapters:
// whatsapp-web.js on Chromium (wwebjs.ts) and an in-process simulator (simulator.ts).

/** What an engine reports, in the order it happens. */
export type EngineEvent =
  /** A QR to scan. The string is a login secret while it is valid: never store or log it. */
  | { type: 'qr'; qr: string }
  /** The phone accepted the link (or a stored login was accepted); `ready` follows. */
  | { type: 'authenticated' }
  /** The stored login was refused: a new QR scan is needed. */
  | { type: 'auth_failure'; message: string }
  /** Usable: messages can be sent. `phoneNumber` is the linked account's number (digits only). */
  | { type: 'ready'; phoneNumber: string | null }
  /** The connection is gone and the engine is no longer usable. `reason: 'LOGOUT'`: the phone unlinked us. */
  | { type: 'disconnected'; reason: string }
  /** WhatsApp Web's connection state changed (CONNECTED, OPENING, PAIRING, TIMEOUT, CONFLICT, …). */
  | { type: 'state'; state: string }
  /** Progress while WhatsApp Web loads. */
  | { type: 'loading'; percent: number; message: string }
  /** A sent message's acknowledgement level changed (1 server, 2 device, 3 read, 4 played; -1 error). */
  | { type: 'ack'; messageId: string; ack: number }

export type EngineListener = (event: EngineEvent) => void

/** The engine state in which messages can be sent. */
export const CONNECTED = 'CONNECTED'

export interface SentMessage {
  messageId: string
}

/** What the gateway knows of a send that WhatsApp does not: which message, and which attempt of it. */
export interface SendOptions {
  /** The message's job. */
  jobId?: string
  /** From 1; a message's first send is its first attempt (a manual retry counts from 1 again). */
  attempt?: number
}

/**
 * One run of one session: start it, use it, stop it. A restart builds a new engine; an engine that was
 * stopped is never started again.
 */
export interface WhatsAppEngine {
  /**
   * Launches and begins linking. Resolves once the engine runs (a `qr` or `ready` event follows);
   * rejects with an EngineError when it cannot start. Either way, `stop()` releases what it started.
   */
  start(): Promise<void>
  /** Stops and releases everything it started (browser processes included). Safe to call at any time, more than once. */
  stop(): Promise<void>
  /** Unlinks the account from the phone where it can, discards the stored login, and stops. */
  logout(): Promise<void>
  /** The connection state (CONNECTED when usable); rejects when the engine cannot tell. */
  getState(): Promise<string | null>
  /** Whether this chat id (`<digits>@c.us`) is a WhatsApp account. */
  isRegistered(chatId: string): Promise<boolean>
  /**
   * Sends a text; rejects with an EngineError that says whether a retry may succeed. The options are
   * not sent anywhere; the simulator's rules use them.
   */
  sendText(chatId: string, body: string, options?: SendOptions): Promise<SentMessage>
  /** Hears every event of this engine; the returned function stops listening. */
  on(listener: EngineListener): () => void
}

export type EngineKind = 'wwebjs' | 'simulator'

/** Makes engines for sessions and manages their stored logins. */
export interface EngineFactory {
  readonly kind: EngineKind
  /** A new engine for one run of a session. */
  create(sessionId: string): WhatsAppEngine
  /** Removes a session's stored login (after a logout, an auth failure or a reset). */
  discardAuth(sessionId: string): Promise<void>
}

export type EngineErrorCode =
  /** The engine could not be launched or could not reach WhatsApp. */
  | 'START_FAILED'
  /** The browser the engine needs was not found. */
  | 'BROWSER_NOT_FOUND'
  /** The session is not connected (yet). */
  | 'NOT_READY'
  | 'SESSION_CLOSED'
  | 'NETWORK_TIMEOUT'
  | 'PROTOCOL_ERROR'
  | 'RATE_LIMITED'
  | 'NOT_REGISTERED'
  | 'INVALID_NUMBER'
  | 'BLOCKED'

const RETRYABLE: ReadonlySet<EngineErrorCode> = new Set([
  'START_FAILED',
  'NOT_READY',
  'SESSION_CLOSED',
  'NETWORK_TIMEOUT',
  'PROTOCOL_ERROR',
  'RATE_LIMITED',
])

/** A failure of the engine, with whether trying again may succeed. */
export class EngineError extends Error {
  readonly code: EngineErrorCode
  readonly retryable: boolean
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'EngineError'
    this.code = code
    this.retryable = RETRYABLE.has(code)
  }
}

/** Session ids become folder names: letters, digits, `_` and `-`, at most 64. */
export const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/
