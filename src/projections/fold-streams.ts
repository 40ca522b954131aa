// Folds every stream in a range of stream ids, in (stream_id, version) order, and hands the resulting
// read-model rows to a sink in batches. Runs in the main thread or in a rebuild worker.

import Database from 'better-sqlite3'
import { type Aggregate, aggregates, assertReadable, CURRENT_SCHEMA_VERSION } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import { atMsOf, collectTimerChanges, splitTimerChanges } from '../core/timer-changes.ts'
import type { Db } from '../eventlog/database.ts'
import { parseJsonObject } from '../eventlog/decode.ts'
import { streamTypeOf } from '../eventlog/types.ts'
import { rowOf, type SqlValue, type TimerRow, timerValues } from './rows.ts'

export interface RowBatch {
  jobs: SqlValue[][]
  sessions: SqlValue[][]
  queues: SqlValue[][]
  timers: SqlValue[][]
}

/** Streams with `after < stream_id ≤ upTo`; null bounds are open. */
export interface StreamRange {
  after: string | null
  upTo: string | null
}

const PAGE_SIZE = 20_000

/** Readers map the file instead of reading it page by page. */
const READER_MMAP_BYTES = 1 << 30

/**
 * A read-only connection for folding, of its own so that the writing one stays free, with one read
 * transaction open: every chunk it folds comes from one consistent view of the log.
 */
export const openReader = (file: string): Db => {
  const reader = new Database(file, { readonly: true })
  reader.pragma(`mmap_size = ${READER_MMAP_BYTES}`)
  reader.exec('BEGIN')
  return reader
}

export const emptyBatch = (): RowBatch => ({ jobs: [], sessions: [], queues: [], timers: [] })

const TARGET: Record<Aggregate['streamType'], keyof RowBatch> = {
  job: 'jobs',
  session: 'sessions',
  queue: 'queues',
}

type Row = [
  position: number,
  streamId: string,
  version: number,
  type: string,
  schemaVersion: number,
  data: string,
]

export interface FoldOptions {
  /** Streams per batch handed to the sink. */
  batchStreams?: number
  /**
   * Read the range with one open statement instead of keyset pages: faster, but the connection stays busy
   * until the fold ends, so only for a connection the sink does not use (a worker's own).
   */
  oneStatement?: boolean
}

export interface FoldTotals {
  events: number
  streams: number
}

/**
 * Folds the range and hands the sink each batch of rows.
 *
 * @example
 * foldStreams(db, { after: null, upTo: null }, (batch) => write(batch))
 */
export const foldStreams = (
  db: Db,
  range: StreamRange,
  sink: (batch: RowBatch) => void,
  options: FoldOptions = {},
): FoldTotals => {
  const batches = foldBatches(db, range, options)
  for (;;) {
    const next = batches.next()
    if (next.done) return next.value
    sink(next.value)
  }
}

/**
 * The same fold, one batch at a time: the caller may do other work between batches.
 *
 * @example
 * const batches = foldBatches(reader, range, { oneStatement: true })
 */
export function* foldBatches(
  db: Db,
  range: StreamRange,
  options: FoldOptions = {},
): Generator<RowBatch, FoldTotals, void> {
  const batchStreams = options.batchStreams ?? 2000
  const bounds = [
    range.after === null ? null : 'stream_id > @after',
    range.upTo === null ? null : 'stream_id <= @upTo',
  ].filter(Boolean)
  const where = (extra: string | null) => {
    const all = [...bounds, extra].filter(Boolean)
    return all.length > 0 ? `WHERE ${all.join(' AND ')}` : ''
  }
  const cols = 'position, stream_id, version, type, schema_version, data'
  // Keyset pages along the (stream_id, version) index keep memory flat and the connection free.
  const all = `SELECT ${cols} FROM events ${where(null)} ORDER BY stream_id, version`
  const first = db.prepare(`${all} LIMIT ${PAGE_SIZE}`).raw()
  const next = db
    .prepare(
      `SELECT ${cols} FROM events ${where('(stream_id, version) > (@lastStream, @lastVersion)')}
       ORDER BY stream_id, version LIMIT ${PAGE_SIZE}`,
    )
    .raw()
  const params: Record<string, string | number> = {}
  if (range.after !== null) params['after'] = range.after
  if (range.upTo !== null) params['upTo'] = range.upTo

  let batch = emptyBatch()
  let inBatch = 0
  let events = 0
  let streams = 0
  let streamId: string | null = null
  let aggregate: Aggregate | undefined
  let snapshot: Snapshot | null = null
  let version = 0
  let timers = new Map<string, TimerRow | null>()

  const finish = () => {
    if (streamId === null || aggregate === undefined || snapshot === null) return
    batch[TARGET[aggregate.streamType]].push(rowOf(aggregate, streamId, version, snapshot))
    for (const t of splitTimerChanges(timers).upsert) batch.timers.push(timerValues(streamId, t))
    streams++
    inBatch++
  }

  const fold = (row: Row) => {
    const [position, sid, v, type, schemaVersion, text] = row
    if (sid !== streamId) {
      finish()
      streamId = sid
      aggregate = (aggregates as Record<string, Aggregate | undefined>)[streamTypeOf(sid)]
      snapshot = null
      if (timers.size > 0) timers = new Map()
    }
    // The checks build their error context only when they fail: a rebuild makes a million of them.
    const agg =
      aggregate?.eventTypes.has(type) && schemaVersion === CURRENT_SCHEMA_VERSION
        ? aggregate
        : assertReadable({ position, streamId: sid, type, schemaVersion }, aggregate)
    let data: Record<string, unknown> | null = null
    try {
      data = JSON.parse(text)
    } catch {}
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      data = parseJsonObject(text, { position, stream_id: sid, type }, 'data')
    const folder = agg.rebuildFolder
    // The parsed data is ours alone: the step may make it the machine event.
    const from = snapshot ?? folder.initial
    const step = folder.replay ? folder.replay(from, type, data) : folder.step(from, type, data, true)
    if (step.firedTimerId !== null || step.timers.length > 0)
      collectTimerChanges(timers, agg, step, atMsOf(data), v)
    snapshot = step.after
    version = v
    events++
  }

  function* pages(): Generator<Row> {
    let page = first.all(params) as Row[]
    while (page.length > 0) {
      yield* page
      if (page.length < PAGE_SIZE) return
      const last = page[page.length - 1] as Row
      page = next.all({ ...params, lastStream: last[1], lastVersion: last[2] }) as Row[]
    }
  }
  const rows = options.oneStatement ? (db.prepare(all).raw().iterate(params) as Iterable<Row>) : pages()
  for (const row of rows) {
    fold(row)
    if (inBatch >= batchStreams) {
      yield batch
      batch = emptyBatch()
      inBatch = 0
    }
  }
  finish()
  if (inBatch > 0) yield batch
  return { events, streams }
}
