// A stream's current snapshot: restored from its projection row, or folded from its events when there is
// no row or the row was written by another machine version.
import type { EventStore } from '../eventlog/event-store.ts'
import { contextColumns, contextOfRow, TABLE_OF } from '../projections/rows.ts'
import { type Aggregate, assertReadable, entityIdOf, type StreamType } from './aggregates.ts'
import type { Snapshot } from './fold.ts'

type SnapshotRow = {
  version: number
  machine_version: number | null
  machine_state: string | null
  context: string | null
  [column: string]: unknown
}
type Lookup = Record<StreamType, (entityId: string) => SnapshotRow | undefined>

const lookups = new WeakMap<EventStore, Lookup>()

const lookupOf = (store: EventStore): Lookup => {
  let l = lookups.get(store)
  if (!l) {
    const made = Object.fromEntries(
      Object.entries(TABLE_OF).map(([type, t]) => {
        const columns = [
          'version',
          'machine_version',
          'machine_state',
          'context',
          ...contextColumns(type as StreamType),
        ]
        const stmt = store.db.prepare(`SELECT ${columns.join(', ')} FROM ${t.table} WHERE ${t.key} = ?`)
        return [type, (id: string) => stmt.get(id) as SnapshotRow | undefined]
      }),
    ) as Lookup
    lookups.set(store, made)
    l = made
  }
  return l
}

/** Folds every event of a stream from the machine's initial snapshot. */
export const foldStream = (
  store: EventStore,
  aggregate: Aggregate,
  streamId: string,
): { snapshot: Snapshot; version: number } => {
  let snapshot = aggregate.folder.initial
  let version = 0
  for (const e of store.readStream(streamId)) {
    assertReadable(e, aggregate)
    snapshot = aggregate.folder.step(snapshot, e.type, e.data).after
    version = e.version
  }
  return { snapshot, version }
}

export const loadStream = (store: EventStore, aggregate: Aggregate, streamId: string) => {
  const row = lookupOf(store)[aggregate.streamType](entityIdOf(streamId))
  if (
    row &&
    row.machine_version === aggregate.machineVersion &&
    row.machine_state !== null &&
    row.context !== null
  ) {
    const snapshot = aggregate.folder.restore(
      JSON.parse(row.machine_state),
      contextOfRow(aggregate.streamType, row),
    )
    return { streamId, aggregate, snapshot, version: row.version }
  }
  return { streamId, aggregate, ...foldStream(store, aggregate, streamId) }
}
