// The live projector: writes one stream change into the read models, inside the append's transaction.

import type { Statement } from 'better-sqlite3'
import type { Aggregate } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'
import type { Db } from '../eventlog/database.ts'
import {
  isJobStatus,
  type JobStatusName,
  rowOf,
  SET_ONCE,
  type SqlValue,
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
  // A row that exists, changed in what it does not set once: an UPDATE of the other columns. SQLite
  // rewrites an index only when the statement assigns one of its columns, and the upsert assigns them all.
  const updates = Object.fromEntries(
    Object.entries(TABLE_OF).map(([type, t]) => {
      const setOnce = SET_ONCE[type as keyof typeof SET_ONCE]
      const changing = t.columns.flatMap((c, i) => (c === t.key || c in setOnce ? [] : [i]))
      const statement = db.prepare(
        `UPDATE ${schema}.${t.table} SET ${changing.map((i) => `${t.columns[i]} = ?`).join(', ')}
         WHERE ${t.key} = ?`,
      )
      const key = t.columns.indexOf(t.key)
      return [
        type,
        {
          fields: [...new Set(Object.values(setOnce))],
          values: (row: SqlValue[]) => [...changing.map((i) => row[i]), row[key]],
          statement,
        },
      ]
    }),
  )
  const keepsSetOnce = (fields: string[], before: object, after: object) =>
    fields.every((f) => (before as Record<string, unknown>)[f] === (after as Record<string, unknown>)[f])
  // A job moving from one status to another: one statement that moves it between the queue's counters,
  // making the queue's row when the session has none yet. Prepared for each pair when first needed.
  const moves = new Map<string, Statement>()
  const moveStatement = (from: JobStatusName | null, to: JobStatusName | null): Statement => {
    const key = `${from}>${to}`
    let statement = moves.get(key)
    if (!statement) {
      const changes = [...(from ? [{ column: from, by: -1 }] : []), ...(to ? [{ column: to, by: 1 }] : [])]
      statement = db.prepare(
        `INSERT INTO ${schema}.queues (session_id, config, ${changes.map((c) => c.column).join(', ')})
         VALUES (?, '{}', ${changes.map((c) => c.by).join(', ')})
         ON CONFLICT (session_id) DO UPDATE SET ${changes
           .map((c) => `${c.column} = ${c.column} ${c.by < 0 ? '-' : '+'} 1`)
           .join(', ')}`,
      )
      moves.set(key, statement)
    }
    return statement
  }
  const deleteTimer = db.prepare(`DELETE FROM ${schema}.timers WHERE stream_id = ? AND timer_id = ?`)
  const upsertTimer = db.prepare(upsertSql(schema, 'timers', ['stream_id', 'timer_id'], TIMER_COLUMNS))

  const move = (sessionId: string, from: string | null, to: string) => {
    const counted = (s: string | null) => (s !== null && isJobStatus(s) ? s : null)
    const [a, b] = [counted(from), counted(to)]
    if (a !== null || b !== null) moveStatement(a, b).run(sessionId)
  }

  return {
    apply({ aggregate, streamId, version, before, after, timers }) {
      const row = rowOf(aggregate, streamId, version, after)
      const update = updates[aggregate.streamType]
      const updated =
        before !== null &&
        update !== undefined &&
        keepsSetOnce(update.fields, before.context as object, after.context as object) &&
        update.statement.run(update.values(row)).changes === 1
      if (!updated) upserts[aggregate.streamType]?.run(row)
      if (aggregate.streamType === 'job') {
        const sessionId = (after.context as { sessionId: string }).sessionId
        const previous = before ? topState(before) : null
        const status = topState(after)
        if (previous !== status) move(sessionId, previous, status)
      }
      for (const id of timers.remove) deleteTimer.run(streamId, id)
      for (const t of timers.upsert) upsertTimer.run(timerValues(streamId, t))
    },
  }
}
