// Rebuilds every projection from the event log, into the live tables or into a schema set aside.
// One transaction: a log that cannot be read (corrupt JSON, unknown type or version) writes nothing.
import { type Aggregate, aggregates, assertReadable } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import { atMsOf, collectTimerChanges, splitTimerChanges } from '../core/timer-changes.ts'
import type { Db } from '../eventlog/database.ts'
import { parseJsonObject } from '../eventlog/decode.ts'
import { streamTypeOf } from '../eventlog/types.ts'
import { createProjector, type TimerRow } from './projector.ts'

const PAGE_SIZE = 10_000

export const PROJECTION_TABLES = ['stream_snapshots', 'jobs', 'sessions', 'queues', 'timers'] as const

export interface RebuildReport {
  events: number
  streams: number
  ms: number
}

type Row = {
  position: number
  stream_id: string
  version: number
  type: string
  schema_version: number
  data: string
}

/**
 * Empties the projection tables of `schema` and refills them by folding every stream.
 *
 * @example
 * rebuildProjections(db)            // the live tables
 * rebuildProjections(db, 'aside')   // copies made by createAsideSchema
 */
export const rebuildProjections = (db: Db, schema = 'main'): RebuildReport => {
  const started = performance.now()
  const projector = createProjector(db, schema)
  // Keyset pages along the (stream_id, version) index: the connection stays free for the writes.
  const firstPage = db.prepare(
    `SELECT position, stream_id, version, type, schema_version, data FROM events
     ORDER BY stream_id, version LIMIT ${PAGE_SIZE}`,
  )
  const nextPage = db.prepare(
    `SELECT position, stream_id, version, type, schema_version, data FROM events
     WHERE (stream_id, version) > (?, ?) ORDER BY stream_id, version LIMIT ${PAGE_SIZE}`,
  )
  function* rows(): Generator<Row> {
    let page = firstPage.all() as Row[]
    while (page.length > 0) {
      yield* page
      if (page.length < PAGE_SIZE) return
      const last = page[page.length - 1] as Row
      page = nextPage.all(last.stream_id, last.version) as Row[]
    }
  }
  let events = 0
  let streams = 0
  db.transaction(() => {
    for (const table of PROJECTION_TABLES) db.prepare(`DELETE FROM ${schema}.${table}`).run()
    let streamId: string | null = null
    let aggregate: Aggregate | undefined
    let snapshot: Snapshot | null = null
    let version = 0
    let timers = new Map<string, TimerRow | null>()
    const finish = () => {
      if (streamId === null || aggregate === undefined || snapshot === null) return
      projector.apply({
        aggregate,
        streamId,
        version,
        before: null,
        after: snapshot,
        timers: splitTimerChanges(timers),
      })
      streams++
    }
    for (const row of rows()) {
      if (row.stream_id !== streamId) {
        finish()
        streamId = row.stream_id
        aggregate = (aggregates as Record<string, Aggregate | undefined>)[streamTypeOf(streamId)]
        snapshot = null
        timers = new Map()
      }
      const agg = assertReadable(
        { ...row, streamId: row.stream_id, schemaVersion: row.schema_version },
        aggregate,
      )
      const data = parseJsonObject(row.data, row, 'data')
      const step = agg.folder.step(snapshot ?? agg.folder.initial, row.type, data)
      collectTimerChanges(timers, agg, step, atMsOf(data), row.version)
      snapshot = step.after
      version = row.version
      events++
    }
    finish()
  })()
  return { events, streams, ms: performance.now() - started }
}

/** Attaches an in-memory schema holding empty copies of the projection tables (same DDL as the live ones). */
export const createAsideSchema = (db: Db, name = 'aside'): string => {
  db.prepare('ATTACH DATABASE ? AS ' + name).run(':memory:')
  const ddl = db
    .prepare(
      `SELECT type, name, sql FROM main.sqlite_master
       WHERE sql IS NOT NULL AND tbl_name IN (${PROJECTION_TABLES.map(() => '?').join(', ')})
       ORDER BY type DESC`,
    )
    .all(...PROJECTION_TABLES) as { type: string; name: string; sql: string }[]
  for (const d of ddl) {
    const sql = d.sql.replace(/^CREATE (TABLE|INDEX|UNIQUE INDEX) ("?)(\w+)\2/i, `CREATE $1 ${name}.$3`)
    db.exec(sql)
  }
  return name
}
