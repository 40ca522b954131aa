// A rebuild worker: folds the chunks of streams it is handed, on its own read-only connection, and posts
// the rows. It says when it is ready, and after each chunk, so that it is handed the next.
import { parentPort, workerData } from 'node:worker_threads'
import { KurirError } from '../errors.ts'
import { foldStreams, openReader, type StreamRange } from './fold-streams.ts'

export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'rows'; batch: import('./fold-streams.ts').RowBatch }
  | { kind: 'folded'; events: number; streams: number }
  | { kind: 'ended' }
  | { kind: 'error'; message: string; replay: boolean }

/** What the rebuilding thread sends: a chunk to fold, or the end of the work. */
export type WorkerCommand = { kind: 'fold'; range: StreamRange } | { kind: 'end' }

const { file } = workerData as { file: string }
const port = parentPort
if (!port) throw new Error('rebuild-worker runs only as a worker thread')

const post = (m: WorkerMessage) => port.postMessage(m)
const db = openReader(file)
port.on('message', (command: WorkerCommand) => {
  // After an error or the first end, whatever was still queued is dropped.
  if (!db.open) return
  try {
    if (command.kind === 'end') {
      db.close()
      post({ kind: 'ended' })
      port.close()
      return
    }
    const totals = foldStreams(db, command.range, (batch) => post({ kind: 'rows', batch }), {
      oneStatement: true,
    })
    post({ kind: 'folded', ...totals })
  } catch (err) {
    post({
      kind: 'error',
      message: err instanceof Error ? err.message : String(err),
      replay: err instanceof KurirError && err.code === 'REPLAY_ERROR',
    })
    db.close()
    port.close()
  }
})
post({ kind: 'ready' })
