// The live projector: writes one stream change into the read models, inside the append's transaction.
import type { Aggregate } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import type { Db } from '../eventlog/database.ts'
import {
  isJobStatus,
  JOB_STATUSES,
  rowOf,
  TABLE_OF,
  TIMER_COLUMNS,
  type TimerRow,
  timerValues,
  topState,
} from './rows.ts'

export type { TimerRow } from './rows.ts'

export interface StreamChange {
  aggregate: Aggregate
  streamId: string
  version: number
  /** The snapshot before, or null when the stream had no projection yet. */
  before: Snapshot | null
  after: Snapshot
  timers: { remove: string[]; upsert: TimerRow[] }
}

export interface Projector {
  apply(change: StreamChange): void
}

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ')

export const upsertSql = (
  schema: string,
  table: string,
  keys: readonly string[],
  columns: readonly string[],
) =>
  `INSERT INTO ${schema}.${table} (${columns.join(', ')}) VALUES (${placeholders(columns.length)})
   ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${columns
     .filter((c) => !keys.includes(c))
     .map((c) => `${c} = excluded.${c}`)
     .join(', ')}`

/**
 * @example
 * createProjector(db).apply({ aggregate, streamId, version, before, after, timers })
 */
export const createProjector = (db: Db, schema = 'main'): Projector => {
  const upserts = Object.fromEntries(
    Object.entries(TABLE_OF).map(([type, t]) => [
      type,
      db.prepare(upsertSql(schema, t.table, [t.key], t.columns)),
    ]),
  )
  const ensureQueue = db.prepare(
    `INSERT INTO ${schema}.queues (session_id, config) VALUES (?, '{}') ON CONFLICT DO NOTHING`,
  )
  const counters = new Map(
    JOB_STATUSES.map((s) => [
      s,
      db.prepare(`UPDATE ${schema}.queues SET ${s} = ${s} + ? WHERE session_id = ?`),
    ]),
  )
  const deleteTimer = db.prepare(`DELETE FROM ${schema}.timers WHERE stream_id = ? AND timer_id = ?`)
  const upsertTimer = db.prepare(upsertSql(schema, 'timers', ['stream_id', 'timer_id'], TIMER_COLUMNS))

  const count = (sessionId: string, status: string, by: number) => {
    if (!isJobStatus(status)) return
    ensureQueue.run(sessionId)
    counters.get(status)?.run(by, sessionId)
  }

  return {
    apply({ aggregate, streamId, version, before, after, timers }) {
      upserts[aggregate.streamType]?.run(rowOf(aggregate, streamId, version, after))
      if (aggregate.streamType === 'job') {
        const sessionId = (after.context as { sessionId: string }).sessionId
        const previous = before ? topState(before) : null
        const status = topState(after)
        if (previous !== status) {
          if (previous !== null) count(sessionId, previous, -1)
          count(sessionId, status, 1)
        }
      }
      for (const id of timers.remove) deleteTimer.run(streamId, id)
      for (const t of timers.upsert) upsertTimer.run(timerValues(streamId, t))
    },
  }
}
