// The XState v5 inspector (@statelyai/inspect) as Kurir uses it: its relay on the loopback address only,
// one client connected to it, and nothing sent that carries a phone number or a message's text. Used by
// INSPECT=1 (the live machines) and by `kurir replay trace --inspect` (one stream, replayed).
// Development only: nothing imports this module unless asked to.

import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { createWebSocketInspector } from '@statelyai/inspect'
import { createInspectorServer } from '@statelyai/inspect/server'
import type { AnyStateMachine } from 'xstate'
import type { Snapshot } from '../core/fold.ts'

const LOOPBACK = '127.0.0.1'
const STRIPPED = '[stripped]'

/** Keys whose values name a recipient or carry a message's text (lower case, without `_` and `-`). */
const PRIVATE_KEYS = new Set(
  [
    'body text message caption chatid to from recipient recipients phone phonenumber number me wid',
    // A WhatsApp message id quotes its chat; an idempotency key is whatever the caller chose.
    'contact contacts pushname messageid idempotencykey',
  ]
    .join(' ')
    .split(' '),
)

/** A phone number (seven digits in a row or more) or a WhatsApp id, anywhere in a string. */
const PRIVATE_TEXT = /\d{7,}|@[cg]\.us\b|@s\.whatsapp\.net\b|@lid\b/i

const isPrivateKey = (key: string): boolean => PRIVATE_KEYS.has(key.toLowerCase().replace(/[_-]/g, ''))

const strip = (value: unknown, ancestors: Set<object>): unknown => {
  if (typeof value === 'string') return PRIVATE_TEXT.test(value) ? STRIPPED : value
  if (value === null || typeof value !== 'object') return value
  if (ancestors.has(value)) return '[circular]'
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return strip(toJSON.call(value), ancestors)
  ancestors.add(value)
  const copy = Array.isArray(value)
    ? value.map((item) => strip(item, ancestors))
    : Object.fromEntries(
        Object.entries(value).map(([key, item]) => [
          key,
          isPrivateKey(key) && item !== null && item !== undefined ? STRIPPED : strip(item, ancestors),
        ]),
      )
  ancestors.delete(value)
  return copy
}

/**
 * A deep copy of `value` fit to leave the process: the value of every key that carries a recipient or a
 * message's text (`chatId`, `body`, `phoneNumber`, `messageId`, `message`…) becomes `'[stripped]'`
 * (null stays null), and so does every string, under any key, holding seven digits in a row or a
 * WhatsApp id (`…@c.us`, `…@g.us`). Numbers are kept: times are epoch milliseconds.
 *
 * @example
 * stripForInspector({ chatId: '6281234567890@c.us', attempts: 1 }) // { chatId: '[stripped]', attempts: 1 }
 */
export const stripForInspector = (value: unknown): unknown => strip(value, new Set())

/** What the inspector is shown of a snapshot: status, state and the stripped context. */
const viewOf = (snapshot: Snapshot) => ({
  status: snapshot.status,
  value: snapshot.value,
  context: stripForInspector(snapshot.context),
})

interface Relay {
  address: { host: string; port: number }
  /** Hears each WebSocket connection after the relay has taken it. */
  onUpgrade(listener: () => void): void
  close(): Promise<void>
}

/**
 * Starts @statelyai/inspect's relay (a page on `/` that embeds the inspector, and a WebSocket that passes
 * each message to every other client) on 127.0.0.1. The library listens on every interface and has no
 * option to say otherwise, so the one HTTP server it makes is caught as it is made and bound to the
 * loopback address; a port in use rejects here instead of throwing out of an event handler.
 */
const startRelay = async (port: number): Promise<Relay> => {
  const http = createRequire(import.meta.url)('node:http') as { createServer: (...args: unknown[]) => Server }
  const createServer = http.createServer
  let server: Server | undefined
  http.createServer = (...args) => {
    const made = createServer(...args)
    const listen = made.listen.bind(made) as (port: number, host: string, callback?: () => void) => Server
    made.listen = ((p: number, callback?: () => void) => listen(p, LOOPBACK, callback)) as Server['listen']
    server = made
    return made
  }
  let relay: { stop(): void }
  try {
    relay = createInspectorServer({ port, autoOpen: false })
  } finally {
    http.createServer = createServer
  }
  const made = server
  if (!made) {
    relay.stop()
    throw new Error('the inspector relay was not made as expected; it is not started')
  }
  // The library forwards its server's errors to a WebSocket server nobody listens to, which would throw.
  made.removeAllListeners('error')
  const sockets = new Set<Socket>()
  made.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const close = () =>
    new Promise<void>((resolve) => {
      made.once('close', () => resolve())
      relay.stop()
      for (const socket of sockets) socket.destroy()
    })
  try {
    await new Promise<void>((resolve, reject) => {
      made.once('listening', resolve)
      made.once('error', reject)
    })
  } catch (err) {
    relay.stop()
    throw new Error(`the inspector cannot listen on ${LOOPBACK}:${port}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  // Once listening, an error concerns one connection at most; the relay goes on.
  made.on('error', () => {})
  const bound = made.address()
  if (!bound || typeof bound !== 'object' || bound.address !== LOOPBACK) {
    await close()
    throw new Error('the inspector relay is not on the loopback address; it is not started')
  }
  return {
    address: { host: bound.address, port: bound.port },
    onUpgrade: (listener) => made.on('upgrade', listener),
    close,
  }
}

/** The inspector client's socket (a `ws` WebSocket in Node), which its adapter keeps to itself. */
interface ClientSocket {
  readonly readyState: number
  onerror: ((event: unknown) => void) | null
  once(event: 'open' | 'close' | 'error', listener: (arg?: unknown) => void): unknown
}
const CLOSED = 3

export interface InspectorConnection {
  /** The page to open in a browser on this machine. */
  url: string
  /** Where the relay listens (always the loopback address). */
  address: { host: string; port: number }
  /** Shows a stream as an actor running `machine`, in the state of `snapshot`. */
  actor(streamId: string, machine: AnyStateMachine, snapshot: Snapshot): void
  /** An event the stream's machine took, and the snapshot it led to. */
  step(streamId: string, machineEvent: { type: string }, snapshot: Snapshot): void
  /** Hears each page (or other client) that connects to the relay. */
  onConnect(listener: () => void): void
  /** Disconnects the client and every page, and closes the relay. */
  close(): Promise<void>
}

/**
 * Starts the relay on 127.0.0.1:`port` and connects a client to it. Rejects with a clear message when
 * the port is taken.
 *
 * @example
 * const inspector = await connectInspector(8080)
 * inspector.actor('job-01J…', jobMachine, snapshot)
 */
export const connectInspector = async (port: number): Promise<InspectorConnection> => {
  const relay = await startRelay(port)
  const inspector = createWebSocketInspector({
    url: `ws://${LOOPBACK}:${relay.address.port}`,
    autoStart: false,
    // An actor is named by its machine's id ('job'); the stream id tells one job from another.
    serialize: (event) => (event.type === '@xstate.actor' ? { ...event, name: event.sessionId } : event),
  })
  inspector.start()
  const socket = (inspector.adapter as unknown as { ws?: ClientSocket }).ws
  if (!socket) {
    inspector.stop()
    await relay.close()
    throw new Error('the inspector client did not open a socket; it is not started')
  }
  // The relay lives and dies with this process: no reconnecting (the adapter would retry every 5 s,
  // even after stop), and an error is not left without a listener.
  socket.onerror = () => {}
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
  } catch (err) {
    await relay.close()
    throw new Error(`the inspector client could not connect: ${(err as Error).message}`, { cause: err })
  }

  let closing: Promise<void> | null = null
  return {
    url: `http://localhost:${relay.address.port}`,
    address: relay.address,
    actor(streamId, machine, snapshot) {
      // The library sends a definition only for what looks like an XState actor (it serialises
      // `logic.config`, functions by name), so the stream is presented as one.
      const actorLike = { sessionId: streamId, logic: { config: machine.config } }
      inspector.actor(actorLike as unknown as Parameters<typeof inspector.actor>[0], viewOf(snapshot))
    },
    step(streamId, machineEvent, snapshot) {
      const event = stripForInspector(machineEvent) as { type: string }
      inspector.event(streamId, event)
      inspector.snapshot(streamId, viewOf(snapshot), { event })
    },
    onConnect: (listener) => relay.onUpgrade(listener),
    close() {
      closing ??= (async () => {
        const closed =
          socket.readyState === CLOSED
            ? Promise.resolve()
            : new Promise<void>((r) => socket.once('close', () => r()))
        inspector.stop()
        await closed
        await relay.close()
      })()
      return closing
    },
  }
}
