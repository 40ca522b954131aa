// A stream's current snapshot: restored from its projection row, or folded from its events when the row
// was written by another machine version.
import type { EventStore } from '../eventlog/event-store.ts'
import { type Aggregate, assertReadable } from './aggregates.ts'
import type { Snapshot } from './fold.ts'

type SnapshotRow = { version: number; machine_version: number; state: string; context: string }

const statements = new WeakMap<EventStore, { get: (id: string) => SnapshotRow | undefined }>()

const snapshotRowOf = (store: EventStore, streamId: string): SnapshotRow | undefined => {
  let s = statements.get(store)
  if (!s) {
    const stmt = store.db.prepare(
      'SELECT version, machine_version, state, context FROM stream_snapshots WHERE stream_id = ?',
    )
    s = { get: (id) => stmt.get(id) as SnapshotRow | undefined }
    statements.set(store, s)
  }
  return s.get(streamId)
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
  const row = snapshotRowOf(store, streamId)
  if (row && row.machine_version === aggregate.machineVersion) {
    const snapshot = aggregate.folder.restore(JSON.parse(row.state), JSON.parse(row.context))
    return { streamId, aggregate, snapshot, version: row.version }
  }
  return { streamId, aggregate, ...foldStream(store, aggregate, streamId) }
}
