// Folds every stream in a range of stream ids, in (stream_id, version) order, and hands the resulting
// read-model rows to a sink in batches. Runs in the main thread or in a rebuild worker.
import { type Aggregate, aggregates, assertReadable } from '../core/aggregates.ts'
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

/**
 * @example
 * foldStreams(db, { after: null, upTo: null }, (batch) => write(batch))
 */
export const foldStreams = (
  db: Db,
  range: StreamRange,
  sink: (batch: RowBatch) => void,
  batchStreams = 2000,
): { events: number; streams: number } => {
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
  const first = db
    .prepare(`SELECT ${cols} FROM events ${where(null)} ORDER BY stream_id, version LIMIT ${PAGE_SIZE}`)
    .raw()
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
    if (++inBatch >= batchStreams) {
      sink(batch)
      batch = emptyBatch()
      inBatch = 0
    }
  }

  let page = first.all(params) as Row[]
  while (page.length > 0) {
    for (const [position, sid, v, type, schemaVersion, text] of page) {
      if (sid !== streamId) {
        finish()
        streamId = sid
        aggregate = (aggregates as Record<string, Aggregate | undefined>)[streamTypeOf(sid)]
        snapshot = null
        if (timers.size > 0) timers = new Map()
      }
      const agg = assertReadable({ position, streamId: sid, type, schemaVersion }, aggregate)
      const data = parseJsonObject(text, { position, stream_id: sid, type }, 'data')
      const folder = agg.rebuildFolder
      const step = folder.step(snapshot ?? folder.initial, type, data, true)
      if (step.firedTimerId !== null || step.timers.length > 0)
        collectTimerChanges(timers, agg, step, atMsOf(data), v)
      snapshot = step.after
      version = v
      events++
    }
    if (page.length < PAGE_SIZE) break
    const last = page[page.length - 1] as Row
    page = next.all({ ...params, lastStream: last[1], lastVersion: last[2] }) as Row[]
  }
  finish()
  if (inBatch > 0) sink(batch)
  return { events, streams }
}
