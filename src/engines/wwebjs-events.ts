// How whatsapp-web.js's client events and failures read in the engine port's terms.
import { EngineError, type EngineErrorCode, type EngineEvent } from './engine.ts'
import type { ClientLike } from './wwebjs.ts'

type Translate = (client: ClientLike, ...args: unknown[]) => EngineEvent

const serializedId = (message: unknown): string => {
  const id = (message as { id?: { _serialized?: unknown } } | null | undefined)?.id?._serialized
  if (typeof id !== 'string') throw new TypeError('message without an id')
  return id
}

/** The client events Kurir listens to, each with its translation (arguments as whatsapp-web.js emits them). */
const TRANSLATIONS: Readonly<Record<string, Translate>> = {
  qr: (_client, qr) => ({ type: 'qr', qr: String(qr) }),
  authenticated: () => ({ type: 'authenticated' }),
  auth_failure: (_client, message) => ({ type: 'auth_failure', message: String(message) }),
  ready: (client) => ({ type: 'ready', phoneNumber: client.info?.wid?.user ?? null }),
  disconnected: (_client, reason) => ({ type: 'disconnected', reason: String(reason) }),
  change_state: (_client, state) => ({ type: 'state', state: String(state) }),
  loading_screen: (_client, percent, message) => ({
    type: 'loading',
    percent: Number(percent),
    message: String(message),
  }),
  message_ack: (_client, message, ack) => ({
    type: 'ack',
    messageId: serializedId(message),
    ack: Number(ack),
  }),
}

/**
 * Hands each client event to `emit` as an EngineEvent; returns how to stop. Nothing thrown here reaches
 * the client: whatsapp-web.js emits from inside its own startup steps (`authenticated` just before it
 * loads its helpers), so an exception there would abort the link halfway.
 *
 * @example
 * const detach = relayClientEvents(client, (event) => log.info(event.type))
 */
export const relayClientEvents = (client: ClientLike, emit: (event: EngineEvent) => void): (() => void) => {
  const handlers = Object.entries(TRANSLATIONS).map(([name, translate]) => {
    const handler = (...args: unknown[]) => {
      try {
        emit(translate(client, ...args))
      } catch {
        // A malformed event or a failing listener costs that one event, never the connection.
      }
    }
    client.on(name, handler)
    return [name, handler] as const
  })
  return () => {
    for (const [name, handler] of handlers) client.removeListener(name, handler)
  }
}

/** The text of anything thrown: whatsapp-web.js also throws bare strings ('auth timeout'). */
export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

const codeFor = (text: string): EngineErrorCode => {
  const t = text.toLowerCase()
  if (/session closed|target closed|detached frame/.test(t)) return 'SESSION_CLOSED'
  if (t.includes('protocol error')) return 'PROTOCOL_ERROR'
  if (/timeout|timed out/.test(t)) return 'NETWORK_TIMEOUT'
  // Words, not letters: "could not generate message: over the size limit" is no rate limit; a
  // word-bounded 429, so that a phone number containing those digits does not read as one either.
  if (/\brate[-_ ]?(?:over)?limit|too many requests|\b429\b/.test(t)) return 'RATE_LIMITED'
  if (/invalid wid|not registered|no lid for user/.test(t)) return 'NOT_REGISTERED'
  return 'PROTOCOL_ERROR'
}

/**
 * A client call's failure as an EngineError whose code says whether a retry may succeed; the original
 * stays as `cause`. EngineErrors pass through.
 *
 * @example
 * toEngineError(new Error('Protocol error (Runtime.callFunctionOn): Session closed.')).code // 'SESSION_CLOSED'
 */
export const toEngineError = (err: unknown): EngineError => {
  if (err instanceof EngineError) return err
  const text = messageOf(err)
  return new EngineError(codeFor(text), text, { cause: err })
}
