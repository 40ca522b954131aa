// A rebuild worker: folds one range of streams on its own read-only connection and posts the rows.
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { KurirError } from '../errors.ts'
import { foldStreams, type StreamRange } from './fold-streams.ts'

export type WorkerMessage =
  | { kind: 'rows'; batch: import('./fold-streams.ts').RowBatch }
  | { kind: 'done'; events: number; streams: number }
  | { kind: 'error'; message: string; replay: boolean }

const { file, range } = workerData as { file: string; range: StreamRange }
const port = parentPort
if (!port) throw new Error('rebuild-worker runs only as a worker thread')

const db = new Database(file, { readonly: true })
try {
  // The file is mapped rather than read page by page.
  db.pragma('mmap_size = 1073741824')
  // One read transaction: the whole range is folded from one consistent view of the log.
  db.exec('BEGIN')
  const totals = foldStreams(
    db,
    range,
    (batch) => port.postMessage({ kind: 'rows', batch } satisfies WorkerMessage),
    { oneStatement: true },
  )
  db.exec('COMMIT')
  port.postMessage({ kind: 'done', ...totals } satisfies WorkerMessage)
} catch (err) {
  port.postMessage({
    kind: 'error',
    message: err instanceof Error ? err.message : String(err),
    replay: err instanceof KurirError && err.code === 'REPLAY_ERROR',
  } satisfies WorkerMessage)
} finally {
  db.close()
}
