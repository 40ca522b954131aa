// INSPECT=1: the live machines, as the event log tells them, reported to the XState v5 inspector
// (@statelyai/inspect) through its relay on the loopback address. Every stream is an actor; every
// committed event is an inspection event and the snapshot it folds to. Phone numbers and message text
// never leave the process. Development only: with INSPECT unset this module is not even loaded.

import { type Aggregate, aggregates } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import { type StoredEvent, streamTypeOf } from '../eventlog/types.ts'
import { connectInspector } from './inspector-connection.ts'

export { stripForInspector } from './inspector-connection.ts'

/** Streams whose last snapshot is kept; a stream forgotten is folded again from the log when next seen. */
const DEFAULT_MAX_STREAMS = 1000

const aggregateFor = (streamId: string): Aggregate | undefined =>
  (aggregates as Record<string, Aggregate | undefined>)[streamTypeOf(streamId)]

export interface LiveInspectorDeps {
  store: Pick<EventStore, 'subscribe' | 'readStream'>
  /** INSPECT_PORT: the relay's page and WebSocket. */
  port: number
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  /** Streams shown at once, before their next event: the sessions and their queues. */
  streams?: string[]
  /** How many streams' last snapshots are kept (default 1,000). */
  maxStreams?: number
}

export interface LiveInspector {
  /** The page to open in a browser on this machine. */
  url: string
  /** Where the relay listens (always the loopback address). */
  address: { host: string; port: number }
  /** Stops reporting, disconnects the client and every browser, and closes the relay. */
  close(): Promise<void>
}

/**
 * @example
 * const live = await startLiveInspector({ store: core.store, port: 8080, log })
 * // open live.url in a browser
 * await live.close()
 */
export const startLiveInspector = async (deps: LiveInspectorDeps): Promise<LiveInspector> => {
  const { store, log } = deps
  const maxStreams = deps.maxStreams ?? DEFAULT_MAX_STREAMS
  const inspector = await connectInspector(deps.port)

  /** Each stream's last snapshot and version, least recently seen first. */
  const last = new Map<string, { version: number; snapshot: Snapshot }>()
  const showActor = (streamId: string, aggregate: Aggregate, snapshot: Snapshot) =>
    inspector.actor(streamId, aggregate.folder.machine, snapshot)

  const remember = (streamId: string, version: number, snapshot: Snapshot) => {
    last.delete(streamId)
    // A finished job takes no more events: its memory goes to the streams still moving.
    if (snapshot.status === 'done') return
    last.set(streamId, { version, snapshot })
    if (last.size > maxStreams) last.delete(last.keys().next().value as string)
  }

  /** Folds a stream from the log up to `toVersion` and shows it as an actor. */
  const announce = (streamId: string, aggregate: Aggregate, toVersion: number): Snapshot => {
    let snapshot = aggregate.folder.initial
    let version = 0
    if (toVersion > 0) {
      for (const e of store.readStream(streamId, { toVersion })) {
        snapshot = aggregate.folder.step(snapshot, e.type, e.data).after
        version = e.version
      }
    }
    showActor(streamId, aggregate, snapshot)
    remember(streamId, version, snapshot)
    return snapshot
  }

  const report = (event: StoredEvent) => {
    const aggregate = aggregateFor(event.streamId)
    if (!aggregate) return
    const known = last.get(event.streamId)
    const before =
      known && known.version === event.version - 1
        ? known.snapshot
        : announce(event.streamId, aggregate, event.version - 1)
    const { folder } = aggregate
    const machineEvent = folder.toMachineEvent(before, event.type, event.data) ?? { type: event.type }
    const after = folder.step(before, event.type, event.data).after
    inspector.step(event.streamId, machineEvent, after)
    remember(event.streamId, event.version, after)
  }

  const unsubscribe = store.subscribe((events) => {
    for (const event of events) {
      try {
        report(event)
      } catch (err) {
        last.delete(event.streamId)
        log.warn(
          { err, streamId: event.streamId, position: event.position },
          'inspector could not fold an event',
        )
      }
    }
  })

  for (const streamId of deps.streams ?? []) {
    const aggregate = aggregateFor(streamId)
    if (aggregate) announce(streamId, aggregate, Number.MAX_SAFE_INTEGER)
  }
  // A page opened later hears the relay's last 200 messages; the sessions and queues, which change
  // seldom, are shown to it again so that it knows them whatever those were.
  inspector.onConnect(() => {
    for (const [streamId, { snapshot }] of last) {
      const aggregate = aggregateFor(streamId)
      if (aggregate && aggregate.streamType !== 'job') showActor(streamId, aggregate, snapshot)
    }
  })

  const { url, address } = inspector
  log.info(
    { url, host: address.host, port: address.port },
    `inspector: open ${url} in a browser on this machine to watch the machines live ` +
      '(development only; phone numbers and message text are stripped)',
  )
  return {
    url,
    address,
    close() {
      unsubscribe()
      return inspector.close()
    },
  }
}
