// Rebuilds every projection from the event log, into the live tables or into a schema set aside, in one
// transaction: a log that cannot be read (corrupt JSON, unknown type or version) writes nothing.
// Large logs are folded by worker threads, one range of streams each, while this thread folds a smaller
// range of its own on a second, read-only connection and writes every row.
import { availableParallelism } from 'node:os'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { ReplayError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import { type FoldTotals, foldBatches, foldStreams, type RowBatch, type StreamRange } from './fold-streams.ts'
import type { WorkerMessage } from './rebuild-worker.ts'
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
  /**
   * Worker threads folding in parallel with this thread; 0 folds in this thread alone. Default: by log
   * size, one fewer than the cores (at least one, at most three).
   */
  workers?: number
}

/** Below this many events, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 100_000
const YOUNG_GENERATION_MB = 64
/**
 * This thread's share of the folding next to one worker's (1): it also writes every row, so it folds
 * less. With one worker it folds 3/8 of the streams.
 */
const MAIN_FOLD_WEIGHT = 0.6
/** Page cache for the rebuild's writes: a million events make about 130 MB of rows and indexes. */
const REBUILD_CACHE_KIB = 256 * 1024
/** Readers map the file instead of reading it page by page. */
const READER_MMAP_BYTES = 1 << 30

const insertSql = (schema: string, table: string, columns: readonly string[]) =>
  `INSERT INTO ${schema}.${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`

const STATUS_INDEX = JOB_COLUMNS.indexOf('status')
const SESSION_INDEX = JOB_COLUMNS.indexOf('session_id')

/**
 * Splits the streams into consecutive ranges whose stream counts follow `weights`, along the
 * (stream_id, version) index.
 */
const partition = (db: Db, weights: readonly number[]): StreamRange[] => {
  const streams = db.prepare('SELECT count(*) FROM events WHERE version = 1').pluck().get() as number
  const at = db
    .prepare('SELECT stream_id FROM events WHERE version = 1 ORDER BY stream_id LIMIT 1 OFFSET ?')
    .pluck()
  const total = weights.reduce((a, b) => a + b, 0)
  const cuts: (string | null)[] = [null]
  let sum = 0
  for (const w of weights.slice(0, -1)) {
    sum += w
    const offset = Math.floor((streams * sum) / total) - 1
    // '' sorts before every stream id: a range cut there is empty.
    cuts.push(offset < 0 ? '' : ((at.get(offset) as string | undefined) ?? ''))
  }
  cuts.push(null)
  return cuts.slice(0, -1).map((after, i) => ({ after, upTo: cuts[i + 1] ?? null }))
}

interface WorkerRun {
  done: Promise<{ events: number; streams: number }>
  stop: () => Promise<number>
}

const runWorker = (file: string, range: StreamRange, onRows: (batch: RowBatch) => void): WorkerRun => {
  const worker = new Worker(new URL('./rebuild-worker.mjs', import.meta.url), {
    workerData: { file, range },
    // Folding allocates many short-lived objects; a larger young generation makes fewer scavenges.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  })
  const done = new Promise<{ events: number; streams: number }>((resolve, reject) => {
    let settled = false
    const fail = (err: unknown) => {
      settled = true
      reject(err)
    }
    worker.on('message', (m: WorkerMessage) => {
      if (settled) return
      if (m.kind === 'rows') {
        try {
          onRows(m.batch)
        } catch (err) {
          fail(err)
        }
      } else if (m.kind === 'done') {
        settled = true
        resolve({ events: m.events, streams: m.streams })
      } else {
        fail(m.replay ? new ReplayError(m.message) : new Error(m.message))
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
 * Folds a range in this thread on a read-only connection of its own (the writing one stays free), one
 * batch per turn of the event loop so that the workers' rows are written in between.
 */
const foldHere = async (
  file: string,
  range: StreamRange,
  write: (batch: RowBatch) => void,
  check: () => void,
): Promise<FoldTotals> => {
  const reader = new Database(file, { readonly: true })
  try {
    reader.pragma(`mmap_size = ${READER_MMAP_BYTES}`)
    reader.exec('BEGIN')
    const batches = foldBatches(reader, range, { oneStatement: true })
    try {
      for (;;) {
        const next = batches.next()
        if (next.done) return next.value
        write(next.value)
        await nextTurn()
        check()
      }
    } finally {
      batches.return({ events: 0, streams: 0 })
    }
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

  const indexes = db
    .prepare(
      `SELECT name, sql FROM ${schema}.sqlite_master
       WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (${PROJECTION_TABLES.map(() => '?').join(', ')})`,
    )
    .all(...PROJECTION_TABLES) as { name: string; sql: string }[]

  // The live tables are locked for writing from the start; an aside schema leaves them alone.
  // The new rows and their indexes stay in memory until the commit (the index builds read them back), and
  // index sorts use every core. Both settings are put back afterwards.
  const settings = {
    cache_size: db.pragma('cache_size', { simple: true }),
    threads: db.pragma('threads', { simple: true }),
  }
  db.pragma(`cache_size = ${-REBUILD_CACHE_KIB}`)
  db.exec(schema === 'main' ? 'BEGIN IMMEDIATE' : 'BEGIN')
  try {
    for (const table of PROJECTION_TABLES) db.prepare(`DELETE FROM ${schema}.${table}`).run()
    // Filling index-free tables and indexing once at the end is several times faster.
    for (const i of indexes) db.exec(`DROP INDEX ${schema}.${i.name}`)
    let totals = { events: 0, streams: 0 }
    if (workers === 0) {
      totals = foldStreams(db, { after: null, upTo: null }, write)
    } else {
      // Workers boot while this thread starts on its own range. Once anything fails, nothing more is
      // written and every worker is stopped before the rollback.
      const [mine, ...theirs] = partition(db, [MAIN_FOLD_WEIGHT, ...Array(workers).fill(1)])
      let aborted = false
      let failure: { error: unknown } | null = null
      const runs = theirs.map((range) =>
        runWorker(db.name, range, (batch) => {
          if (!aborted) write(batch)
        }),
      )
      for (const run of runs) run.done.catch((error) => (failure ??= { error }))
      try {
        totals = await foldHere(db.name, mine as StreamRange, write, () => {
          if (failure) throw failure.error
        })
        for (const r of await Promise.all(runs.map((run) => run.done))) {
          totals.events += r.events
          totals.streams += r.streams
        }
      } catch (err) {
        aborted = true
        await Promise.all(runs.map((run) => run.stop()))
        throw err
      }
    }
    db.pragma(`threads = ${Math.min(8, availableParallelism())}`)
    for (const i of indexes)
      db.exec(i.sql.replace(/^CREATE (UNIQUE )?INDEX (\w+)/i, `CREATE $1INDEX ${schema}.$2`))
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
