// The event store: appends with optimistic concurrency and group commit, reads, and after-commit
// subscriptions, on one better-sqlite3 connection.
import type { Clock } from '../clock.ts'
import type { IdSource } from '../ids.ts'
import type { Db } from './database.ts'
import { decodeEvent, EVENT_COLUMNS, type EventRow } from './decode.ts'
import {
  type AppendResult,
  type ExpectedVersion,
  type NewEvent,
  type StoredEvent,
  streamTypeOf,
} from './types.ts'

export interface AppendOptions {
  expectedVersion: ExpectedVersion
  /** Defaults to the stream id's prefix. */
  streamType?: string
  /**
   * Runs inside the append's transaction once its events are inserted (projections go here). If it
   * throws, this append alone is rolled back and its promise rejects; the rest of the batch commits.
   */
  inTransaction?: (events: StoredEvent[]) => void
}

export type Subscriber = (events: StoredEvent[]) => void

/**
 * What an answer shows of a stored event, its data and metadata still the JSON text the log holds (the
 * log's CHECKs hold both to JSON objects).
 */
export type RawEvent = Pick<StoredEvent, 'position' | 'streamId' | 'version' | 'type' | 'createdAt'> & {
  data: string
  metadata: string
}

export interface EventStore {
  /**
   * Appends events to one stream if its version is still `expectedVersion`. Appends made in the same tick
   * share one transaction; each promise resolves after that transaction is committed.
   *
   * @example
   * const r = await store.append('job-01H…', [{ type: 'JobQueued', data }], { expectedVersion: 'no_stream' })
   * if (!r.ok) return r // { ok: false, reason: 'VersionConflict', … }
   */
  append(streamId: string, events: NewEvent[], options: AppendOptions): Promise<AppendResult>
  readStream(streamId: string, options?: { fromVersion?: number; toVersion?: number }): StoredEvent[]
  /** Events with a position greater than `afterPosition`, in order. */
  readAll(afterPosition?: number, limit?: number, filter?: { streamId?: string }): StoredEvent[]
  /** The same events as `readAll`, as answers show them, for answers that pass data and metadata on unparsed. */
  readAllRaw(afterPosition?: number, limit?: number, filter?: { streamId?: string }): RawEvent[]
  streamVersion(streamId: string): number
  lastPosition(): number
  /** Called after each commit with the batch's events in position order. */
  subscribe(subscriber: Subscriber): () => void
  /** Resolves when every append asked for so far is committed. */
  flush(): Promise<void>
  readonly db: Db
}

export interface EventStoreDeps {
  db: Db
  clock: Clock
  newId: IdSource
  onSubscriberError?: (err: unknown) => void
  /** Hears each group commit: how many appends it held and how long its transaction took. */
  onCommitted?: (appends: number, seconds: number) => void
}

interface Pending {
  streamId: string
  events: NewEvent[]
  encoded: { type: string; data: string; metadata: string; schemaVersion: number }[]
  options: AppendOptions
  resolve: (r: AppendResult) => void
  reject: (err: unknown) => void
}

const encode = (e: NewEvent) => ({
  type: e.type,
  schemaVersion: e.schemaVersion ?? 1,
  data: JSON.stringify(e.data),
  metadata: JSON.stringify(e.metadata ?? {}),
})

const invalid = (streamId: string, message: string): AppendResult => ({
  ok: false,
  reason: 'InvalidEvent',
  streamId,
  message,
})

const checkShape = (e: NewEvent): string | null => {
  if (typeof e.type !== 'string' || e.type.length === 0) return 'event type must be a non-empty string'
  if (e.data === null || typeof e.data !== 'object' || Array.isArray(e.data))
    return `${e.type}: data must be an object`
  if (e.schemaVersion !== undefined && (!Number.isInteger(e.schemaVersion) || e.schemaVersion < 1))
    return `${e.type}: schemaVersion must be a positive integer`
  return null
}

export const createEventStore = (deps: EventStoreDeps): EventStore => {
  const { db, clock, newId, onSubscriberError } = deps
  const insert = db.prepare(
    `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const versionOf = db.prepare('SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?').pluck()
  const selectStream = db.prepare(
    `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version >= ? AND version <= ? ORDER BY version`,
  )
  // A bare `LIMIT ?` is one the query planner reads, so SQLite prepares the statement again on every run
  // with a newly bound value (about 8 µs each time); a LIMIT that is an expression is not read by it.
  // Within one stream, version order is position order, and the (stream_id, version) index gives it
  // without a sort.
  const pageStatements = (columns: string) => ({
    all: db.prepare(
      `SELECT ${columns} FROM events WHERE position > ? ORDER BY position LIMIT CAST(? AS INTEGER)`,
    ),
    // From the stream's first version past the position (see firstVersionAfter); the position is
    // checked again on the rows read.
    ofStream: db.prepare(
      `SELECT ${columns} FROM events WHERE stream_id = ? AND version >= ? AND position > ? ORDER BY version
       LIMIT CAST(? AS INTEGER)`,
    ),
  })
  const positionAt = db.prepare('SELECT position FROM events WHERE stream_id = ? AND version = ?').pluck()
  /**
   * The stream's first version past a position. Within a stream positions grow with versions, which run
   * from 1 without a gap, so a binary search reads a few entries of the (stream_id, version) index; a
   * filter on the position would read every event of the stream before it (a session's keepalives make
   * long streams).
   */
  const firstVersionAfter = (streamId: string, afterPosition: number): number => {
    if (afterPosition <= 0) return 1
    let low = 1
    let high = (versionOf.get(streamId) as number) + 1
    while (low < high) {
      const mid = Math.floor((low + high) / 2)
      const position = positionAt.get(streamId, mid) as number | undefined
      if (position === undefined || position > afterPosition) high = mid
      else low = mid + 1
    }
    return low
  }
  const pages = pageStatements(EVENT_COLUMNS)
  // Only the columns an answer shows: each one read costs a string made from SQLite's bytes.
  const rawPages = pageStatements('position, stream_id, version, type, data, metadata, created_at')
  const pageRows = (
    statements: ReturnType<typeof pageStatements>,
    afterPosition: number,
    limit: number,
    filter: { streamId?: string },
  ) =>
    (filter.streamId
      ? statements.ofStream.all(
          filter.streamId,
          firstVersionAfter(filter.streamId, afterPosition),
          afterPosition,
          limit,
        )
      : statements.all.all(afterPosition, limit)) as EventRow[]
  const lastPositionStmt = db
    .prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)")
    .pluck()

  const subscribers = new Set<Subscriber>()
  let queue: Pending[] = []
  let scheduled = false
  let idleWaiters: (() => void)[] = []
  const markIdle = () => {
    const waiters = idleWaiters
    idleWaiters = []
    for (const w of waiters) w()
  }

  const appendOne = (
    p: Pending,
    versions: Map<string, number>,
    createdAt: string,
  ): { result: AppendResult; stored: StoredEvent[] } => {
    const current = versions.get(p.streamId) ?? (versionOf.get(p.streamId) as number)
    const expected = p.options.expectedVersion
    const expectedNumber = expected === 'no_stream' ? 0 : expected
    if (expectedNumber !== 'any' && expectedNumber !== current) {
      return {
        result: {
          ok: false,
          reason: 'VersionConflict',
          streamId: p.streamId,
          expectedVersion: expected,
          actualVersion: current,
        },
        stored: [],
      }
    }
    const streamType = p.options.streamType ?? streamTypeOf(p.streamId)
    const stored: StoredEvent[] = []
    let version = current
    const write = () => {
      p.encoded.forEach((e, i) => {
        version += 1
        const eventId = newId()
        const info = insert.run(
          eventId,
          p.streamId,
          streamType,
          version,
          e.type,
          e.schemaVersion,
          e.data,
          e.metadata,
          createdAt,
        )
        const source = p.events[i] as NewEvent
        stored.push({
          position: Number(info.lastInsertRowid),
          eventId,
          streamId: p.streamId,
          streamType,
          version,
          type: e.type,
          schemaVersion: e.schemaVersion,
          data: source.data,
          metadata: source.metadata ?? {},
          createdAt,
        })
      })
      p.options.inTransaction?.(stored)
    }
    // A savepoint per append, so that its failure (a CHECK, a throwing projection) leaves the rest of the
    // batch intact. A lone INSERT is atomic by itself and needs none.
    if (p.encoded.length === 1 && !p.options.inTransaction) write()
    else db.transaction(write)()
    versions.set(p.streamId, version)
    return { result: { ok: true, streamId: p.streamId, nextVersion: version, events: stored }, stored }
  }

  const flushBatch = (): void => {
    scheduled = false
    const batch = queue
    queue = []
    if (batch.length === 0) {
      markIdle()
      return
    }
    const outcomes: (
      | { ok: true; result: AppendResult; stored: StoredEvent[] }
      | { ok: false; error: unknown }
    )[] = []
    const started = performance.now()
    try {
      // IMMEDIATE: the write lock is taken first, waiting up to the busy timeout for another process
      // (a `kurir` command) to let go. A transaction that began with a read could not wait: SQLite
      // refuses it at once when another connection wrote meanwhile.
      db.transaction(() => {
        const versions = new Map<string, number>()
        const createdAt = new Date(clock.now()).toISOString()
        for (const p of batch) {
          try {
            outcomes.push({ ok: true, ...appendOne(p, versions, createdAt) })
          } catch (error) {
            const code = (error as { code?: string }).code ?? ''
            if (code.startsWith('SQLITE_CONSTRAINT')) {
              outcomes.push({ ok: true, result: invalid(p.streamId, (error as Error).message), stored: [] })
            } else {
              outcomes.push({ ok: false, error })
            }
          }
        }
      }).immediate()
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nobody's events are durable.
      for (const p of batch) p.reject(error)
      if (queue.length === 0) markIdle()
      return
    }
    deps.onCommitted?.(batch.length, (performance.now() - started) / 1000)
    const committed: StoredEvent[] = []
    batch.forEach((p, i) => {
      const o = outcomes[i]
      if (!o) return
      if (o.ok) {
        committed.push(...o.stored)
        p.resolve(o.result)
      } else {
        p.reject(o.error)
      }
    })
    if (committed.length > 0) {
      for (const s of subscribers) {
        try {
          s(committed)
        } catch (err) {
          onSubscriberError?.(err)
        }
      }
    }
    if (queue.length === 0) markIdle()
  }

  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(flushBatch)
  }

  return {
    db,
    append(streamId, events, options) {
      if (events.length === 0) return Promise.resolve(invalid(streamId, 'nothing to append'))
      const encoded: Pending['encoded'] = []
      for (const e of events) {
        const problem = checkShape(e)
        if (problem) return Promise.resolve(invalid(streamId, problem))
        try {
          encoded.push(encode(e))
        } catch (err) {
          return Promise.resolve(invalid(streamId, `${e.type}: ${(err as Error).message}`))
        }
      }
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ streamId, events, encoded, options, resolve, reject })
        schedule()
      })
    },
    readStream(streamId, options = {}) {
      const rows = selectStream.all(
        streamId,
        options.fromVersion ?? 1,
        options.toVersion ?? Number.MAX_SAFE_INTEGER,
      ) as EventRow[]
      return rows.map(decodeEvent)
    },
    readAll: (afterPosition = 0, limit = 1000, filter = {}) =>
      pageRows(pages, afterPosition, limit, filter).map(decodeEvent),
    readAllRaw: (afterPosition = 0, limit = 1000, filter = {}) =>
      pageRows(rawPages, afterPosition, limit, filter).map(
        (r): RawEvent => ({
          position: r.position,
          streamId: r.stream_id,
          version: r.version,
          type: r.type,
          data: r.data,
          metadata: r.metadata,
          createdAt: r.created_at,
        }),
      ),
    streamVersion: (streamId) => versionOf.get(streamId) as number,
    lastPosition: () => lastPositionStmt.get() as number,
    subscribe(subscriber) {
      subscribers.add(subscriber)
      return () => subscribers.delete(subscriber)
    },
    flush: () =>
      queue.length === 0 && !scheduled ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)),
  }
}
