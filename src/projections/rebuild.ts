// Rebuilds every projection from the event log, into the live tables or into a schema set aside, in one
// transaction: a log that cannot be read (corrupt JSON, unknown type or version) writes nothing.
// Large logs are folded by worker threads and by this thread, on read-only connections of their own,
// taking chunks of streams in turn; this thread writes every row.
import { availableParallelism } from 'node:os'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { ReplayError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import {
  type FoldTotals,
  foldBatches,
  foldStreams,
  openReader,
  type RowBatch,
  type StreamRange,
} from './fold-streams.ts'
import type { WorkerCommand, WorkerMessage } from './rebuild-worker.ts'
import {
  isJobStatus,
  JOB_COLUMNS,
  JOB_STATUSES,
  QUEUE_COLUMNS,
  SESSION_COLUMNS,
  TIMER_COLUMNS,
} from './rows.ts'

export const PROJECTION_TABLES = ['jobs', 'sessions', 'queues', 'timers'] as const

export interface RebuildReport {
  events: number
  streams: number
  ms: number
  workers: number
}

export interface RebuildOptions {
  /** `main` (the live tables) or an attached schema made by createAsideSchema. */
  schema?: string
  /** Streams per chunk of work (tests make it small to give every thread some). */
  chunkStreams?: number
  /** With workers, whether this thread folds chunks too (default) or only writes. */
  foldHere?: boolean
  /**
   * Worker threads folding in parallel with this thread; 0 folds in this thread alone. Default: by log
   * size, one fewer than the cores (at least one, at most three).
   */
  workers?: number
}

/** Below this many events, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 100_000
const YOUNG_GENERATION_MB = 64
/** Page cache for the rebuild's writes: a million events make about 130 MB of rows and indexes. */
const REBUILD_CACHE_KIB = 256 * 1024

const insertSql = (schema: string, table: string, columns: readonly string[]) =>
  `INSERT INTO ${schema}.${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`

const STATUS_INDEX = JOB_COLUMNS.indexOf('status')
const SESSION_INDEX = JOB_COLUMNS.indexOf('session_id')

/** Streams per chunk of work handed to a thread: a few hundred milliseconds of folding. */
const CHUNK_STREAMS = 8000

/**
 * Hands out consecutive ranges of about `size` streams along the (stream_id, version) index, each found
 * when it is asked for; undefined once every stream is handed out.
 */
const chunker = (db: Db, size: number): (() => StreamRange | undefined) => {
  const first = db
    .prepare('SELECT stream_id FROM events WHERE version = 1 ORDER BY stream_id LIMIT 1 OFFSET ?')
    .pluck()
  const after = db
    .prepare(
      'SELECT stream_id FROM events WHERE version = 1 AND stream_id > ? ORDER BY stream_id LIMIT 1 OFFSET ?',
    )
    .pluck()
  let cursor: string | null = null
  let done = false
  return () => {
    if (done) return undefined
    const upTo = (cursor === null ? first.get(size - 1) : after.get(cursor, size - 1)) as string | undefined
    const range = { after: cursor, upTo: upTo ?? null }
    if (upTo === undefined) done = true
    else cursor = upTo
    return range
  }
}

interface WorkerRun {
  done: Promise<void>
  stop: () => Promise<number>
}

/**
 * A worker that folds the chunks it takes from `next` (undefined: none left) and hands their rows and
 * totals back.
 */
const runWorker = (
  file: string,
  next: () => StreamRange | undefined,
  onRows: (batch: RowBatch) => void,
  onFolded: (totals: FoldTotals) => void,
): WorkerRun => {
  const worker = new Worker(new URL('./rebuild-worker.mjs', import.meta.url), {
    workerData: { file },
    // Folding allocates many short-lived objects; a larger young generation makes fewer scavenges.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  })
  const done = new Promise<void>((resolve, reject) => {
    let settled = false
    const fail = (err: unknown) => {
      settled = true
      reject(err)
    }
    const handOut = () => {
      const range = next()
      const command: WorkerCommand = range === undefined ? { kind: 'end' } : { kind: 'fold', range }
      worker.postMessage(command)
    }
    worker.on('message', (m: WorkerMessage) => {
      if (settled) return
      try {
        if (m.kind === 'rows') onRows(m.batch)
        else if (m.kind === 'ready') {
          // One chunk ahead: the worker never waits for this thread to hand out the next.
          handOut()
          handOut()
        } else if (m.kind === 'folded') {
          onFolded(m)
          handOut()
        } else if (m.kind === 'ended') {
          settled = true
          resolve()
        } else fail(m.replay ? new ReplayError(m.message) : new Error(m.message))
      } catch (err) {
        fail(err)
      }
    })
    worker.on('error', fail)
    worker.on('exit', (code) => {
      if (!settled) fail(new Error(`rebuild worker exited with code ${code}`))
    })
  })
  return { done, stop: () => worker.terminate() }
}

/**
 * Folds the chunks it takes from `next` in this thread, on a read-only connection of its own (the writing
 * one stays free), one batch per turn of the event loop so that the workers' rows are written in between.
 */
const foldHere = async (
  file: string,
  next: () => StreamRange | undefined,
  write: (batch: RowBatch) => void,
  check: () => void,
): Promise<FoldTotals> => {
  const totals = { events: 0, streams: 0 }
  const reader = openReader(file)
  try {
    for (let range = next(); range !== undefined; range = next()) {
      const batches = foldBatches(reader, range, { oneStatement: true })
      try {
        for (;;) {
          const step = batches.next()
          if (step.done) {
            totals.events += step.value.events
            totals.streams += step.value.streams
            break
          }
          write(step.value)
          await nextTurn()
          check()
        }
      } finally {
        batches.return({ events: 0, streams: 0 })
      }
    }
    return totals
  } finally {
    reader.close()
  }
}

/**
 * Empties the projection tables of `schema` and refills them by folding every stream.
 *
 * @example
 * await rebuildProjections(db)                       // the live tables
 * await rebuildProjections(db, { schema: 'aside' })  // copies made by createAsideSchema
 */
export const rebuildProjections = async (db: Db, options: RebuildOptions = {}): Promise<RebuildReport> => {
  const schema = options.schema ?? 'main'
  const started = performance.now()
  const eventCount = db
    .prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)")
    .pluck()
    .get() as number
  const inMemory = db.memory || db.name === ''
  const workers = inMemory
    ? 0
    : (options.workers ??
      (eventCount >= WORKER_THRESHOLD ? Math.max(1, Math.min(3, availableParallelism() - 1)) : 0))

  const insert = {
    jobs: db.prepare(insertSql(schema, 'jobs', JOB_COLUMNS)),
    sessions: db.prepare(insertSql(schema, 'sessions', SESSION_COLUMNS)),
    queues: db.prepare(insertSql(schema, 'queues', QUEUE_COLUMNS)),
    timers: db.prepare(insertSql(schema, 'timers', TIMER_COLUMNS)),
  }
  const counts = new Map<string, Record<string, number>>()
  const write = (batch: RowBatch) => {
    for (const row of batch.jobs) {
      insert.jobs.run(row)
      const sessionId = row[SESSION_INDEX] as string
      const status = row[STATUS_INDEX] as string
      if (!isJobStatus(status)) continue
      const c = counts.get(sessionId) ?? Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]))
      counts.set(sessionId, c)
      c[status] = (c[status] ?? 0) + 1
    }
    for (const row of batch.sessions) insert.sessions.run(row)
    for (const row of batch.queues) insert.queues.run(row)
    for (const row of batch.timers) insert.timers.run(row)
  }

  // The live tables are locked for writing from the start; an aside schema leaves them alone.
  // Rows arrive in id order and mostly in time order, so their indexes grow at a few ends; in a page cache
  // large enough to hold them until the commit, keeping the indexes costs less than building them after.
  const settings = { cache_size: db.pragma('cache_size', { simple: true }) }
  db.pragma(`cache_size = ${-REBUILD_CACHE_KIB}`)
  db.exec(schema === 'main' ? 'BEGIN IMMEDIATE' : 'BEGIN')
  let aborted = false
  try {
    let totals = { events: 0, streams: 0 }
    if (workers === 0) {
      for (const table of PROJECTION_TABLES) db.prepare(`DELETE FROM ${schema}.${table}`).run()
      totals = foldStreams(db, { after: null, upTo: null }, write)
    } else {
      // The streams are cut into chunks that this thread and the workers take in turn, so whoever is
      // less busy folds more; workers boot while this thread empties the tables and starts folding. Once
      // anything fails, nothing more is written and every worker is stopped before the rollback.
      let failure: { error: unknown } | null = null
      const chunk = chunker(db, options.chunkStreams ?? CHUNK_STREAMS)
      const next = () => (aborted ? undefined : chunk())
      const add = (t: FoldTotals) => {
        totals.events += t.events
        totals.streams += t.streams
      }
      const runs = Array.from({ length: workers }, () =>
        runWorker(
          db.name,
          next,
          (batch) => {
            if (!aborted) write(batch)
          },
          add,
        ),
      )
      for (const run of runs) run.done.catch((error) => (failure ??= { error }))
      try {
        for (const table of PROJECTION_TABLES) db.prepare(`DELETE FROM ${schema}.${table}`).run()
        if (options.foldHere ?? true)
          add(
            await foldHere(db.name, next, write, () => {
              if (failure) throw failure.error
            }),
          )
        await Promise.all(runs.map((run) => run.done))
      } catch (err) {
        aborted = true
        await Promise.all(runs.map((run) => run.stop()))
        throw err
      }
    }
    const ensureQueue = db.prepare(
      `INSERT INTO ${schema}.queues (session_id, config) VALUES (?, '{}') ON CONFLICT DO NOTHING`,
    )
    const setCounts = db.prepare(
      `UPDATE ${schema}.queues SET ${JOB_STATUSES.map((s) => `${s} = @${s}`).join(', ')} WHERE session_id = @sessionId`,
    )
    for (const [sessionId, c] of counts) {
      ensureQueue.run(sessionId)
      setCounts.run({ ...c, sessionId })
    }
    db.exec('COMMIT')
    return { ...totals, ms: performance.now() - started, workers }
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw err
  } finally {
    for (const [name, value] of Object.entries(settings)) db.pragma(`${name} = ${value}`)
  }
}

/** Attaches an in-memory schema holding empty copies of the projection tables (same DDL as the live ones). */
export const createAsideSchema = (db: Db, name = 'aside'): string => {
  db.prepare(`ATTACH DATABASE ? AS ${name}`).run(':memory:')
  const ddl = db
    .prepare(
      `SELECT type, name, sql FROM main.sqlite_master
       WHERE sql IS NOT NULL AND tbl_name IN (${PROJECTION_TABLES.map(() => '?').join(', ')})
       ORDER BY type DESC`,
    )
    .all(...PROJECTION_TABLES) as { type: string; name: string; sql: string }[]
  for (const d of ddl) {
    db.exec(d.sql.replace(/^CREATE (TABLE|INDEX|UNIQUE INDEX) ("?)(\w+)\2/i, `CREATE $1 ${name}.$3`))
  }
  return name
}
