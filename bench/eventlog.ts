// npm run bench:eventlog — append rates (one event per commit, group commit; FULL and NORMAL), rebuild
// rate over 1,000,000 events and one-stream trace time, each next to this machine's raw better-sqlite3
// insert rate measured in the same run; and a page of a long stream read far in, next to its first page.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { systemClock } from '../src/clock.ts'
import { streamIds } from '../src/core/aggregates.ts'
import { openCore } from '../src/core/open-core.ts'
import { traceStream } from '../src/core/trace.ts'
import type { Synchronous } from '../src/eventlog/database.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { jobQueuedData } from './support.ts'

const REBUILD_EVENTS = Number(process.env['BENCH_REBUILD_EVENTS'] ?? 1_000_000)
const REBUILD_RUNS = 3
const APPEND_EVENTS = Number(process.env['BENCH_APPEND_EVENTS'] ?? 100_000)
const SINGLE_EVENTS = Number(process.env['BENCH_SINGLE_EVENTS'] ?? 2_000)
const BATCH = 1000

const root = mkdtempSync(join(tmpdir(), 'kurir-bench-'))
let dirs = 0
const freshFile = () => join(root, `db-${++dirs}`, 'kurir.db')

const data = (i: number) => ({
  jobId: `J${i}`,
  chatId: '6281234567890@c.us',
  attempt: 1,
  at: new Date().toISOString(),
})

/** Baseline: plain inserts of the same columns into an unconstrained table, 1,000 rows per transaction. */
const rawInsertRate = (synchronous: Synchronous, n: number): number => {
  const db = new Database(join(root, `raw-${synchronous}.db`))
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(`CREATE TABLE t (position INTEGER PRIMARY KEY, event_id TEXT, stream_id TEXT, stream_type TEXT, version INTEGER,
    type TEXT, schema_version INTEGER, data TEXT, metadata TEXT, created_at TEXT)`)
  const insert = db.prepare('INSERT INTO t VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
  const meta = JSON.stringify({ commandId: 'x', machineVersion: 1 })
  const started = performance.now()
  for (let b = 0; b < n; b += BATCH) {
    db.transaction(() => {
      for (let i = b; i < Math.min(n, b + BATCH); i++) {
        insert.run(
          `01H${String(i).padStart(23, '0')}`,
          `job-${i}`,
          'job',
          1,
          'E',
          1,
          JSON.stringify(data(i)),
          meta,
          'x',
        )
      }
    })()
  }
  const rate = n / ((performance.now() - started) / 1000)
  db.close()
  return rate
}

/** One append awaited at a time: one transaction, one fsync per event. */
const singleAppendRate = async (synchronous: Synchronous, n: number): Promise<number> => {
  const core = openCore({ file: freshFile(), synchronous })
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    await core.store.append(`job-${i}`, [{ type: 'E', data: data(i) }], { expectedVersion: 0 })
  }
  const rate = n / ((performance.now() - started) / 1000)
  await core.close()
  return rate
}

/** Many callers in flight: every append of a tick shares one transaction. */
const groupAppendRate = async (synchronous: Synchronous, n: number): Promise<number> => {
  const core = openCore({ file: freshFile(), synchronous })
  const started = performance.now()
  for (let b = 0; b < n; b += BATCH) {
    const inFlight = []
    for (let i = b; i < Math.min(n, b + BATCH); i++) {
      inFlight.push(core.store.append(`job-${i}`, [{ type: 'E', data: data(i) }], { expectedVersion: 0 }))
    }
    const results = await Promise.all(inFlight)
    if (!results.every((r) => r.ok)) throw new Error('an append failed')
  }
  const rate = n / ((performance.now() - started) / 1000)
  await core.close()
  return rate
}

/**
 * A log of `n` events shaped like real traffic: most jobs queued, started, sent; one in five fails once
 * and is retried; sessions and queues add a few. Written straight into the table (setup, not measured).
 */
const seedLog = (file: string, n: number) => {
  const core = openCore({ file, synchronous: 'NORMAL' })
  const insert = core.db.prepare(
    `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
     VALUES (?, ?, 'job', ?, ?, 1, ?, '{"machineVersion":1}', ?)`,
  )
  const t0 = Date.parse('2026-01-05T08:00:00.000Z')
  let written = 0
  let job = 0
  let id = 0
  const eventId = () => `01H${String(++id).padStart(23, '0')}`
  core.db.pragma('synchronous = OFF')
  while (written < n) {
    core.db.transaction(() => {
      for (let k = 0; k < 10_000 && written < n; k++) {
        const jobId = `01J${String(++job).padStart(23, '0')}`
        const stream = streamIds.job(jobId)
        const at = (ms: number) => new Date(t0 + job * 10 + ms).toISOString()
        const facts: [string, Record<string, unknown>][] = [
          [
            'JobQueued',
            jobQueuedData(jobId, '6281234567890@c.us', at(0), {
              priority: job % 7 === 0 ? 'high' : 'normal',
            }),
          ],
          ['JobAttemptStarted', { attempt: 1, at: at(5) }],
        ]
        if (job % 5 === 0) {
          facts.push(
            [
              'JobAttemptFailed',
              {
                attempt: 1,
                error: { code: 'NETWORK_TIMEOUT', message: 'timeout', retryable: true },
                jitter: 0.5,
                at: at(10),
              },
            ],
            ['JobDue', { timer: 'untilDue', dueAt: at(2010), at: at(2010) }],
            ['JobAttemptStarted', { attempt: 2, at: at(2015) }],
          )
        }
        facts.push(['JobSent', { attempt: job % 5 === 0 ? 2 : 1, messageId: `true_${jobId}`, at: at(2020) }])
        facts.forEach(([type, d], v) => {
          if (written >= n) return
          insert.run(eventId(), stream, v + 1, type, JSON.stringify(d), at(0))
          written++
        })
      }
    })()
  }
  return core
}

const LONG_STREAM_EVENTS = Number(process.env['BENCH_LONG_STREAM_EVENTS'] ?? 300_000)

/**
 * A page of 100 events of one long stream (a session's keepalives over months), read from its start and
 * from far in: median of 50 reads each. Another stream's event every tenth, so positions and versions
 * differ.
 */
const longStreamPages = async () => {
  const core = openCore({ file: freshFile(), synchronous: 'NORMAL' })
  const insert = core.db.prepare(
    `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
     VALUES (?, ?, ?, ?, 'SessionProbeSucceeded', 1, '{"engineState":"CONNECTED","at":"2026-01-05T08:00:00.000Z"}',
       '{"machineVersion":1}', '2026-01-05T08:00:00.000Z')`,
  )
  core.db.pragma('synchronous = OFF')
  let id = 0
  const eventId = () => `01H${String(++id).padStart(23, '0')}`
  core.db.transaction(() => {
    for (let v = 1; v <= LONG_STREAM_EVENTS; v++) {
      insert.run(eventId(), 'session-default', 'session', v)
      if (v % 10 === 0) insert.run(eventId(), `job-01J${String(v).padStart(23, '0')}`, 'job', 1)
    }
  })()
  const last = core.store.lastPosition()
  const median = (after: number) => {
    const times: number[] = []
    for (let i = 0; i < 50; i++) {
      const started = performance.now()
      const page = core.store.readAllRaw(after, 100, { streamId: 'session-default' })
      times.push(performance.now() - started)
      if (page.length === 0) throw new Error('an empty page')
    }
    return times.sort((a, b) => a - b)[25] ?? Number.NaN
  }
  const first = median(0)
  const farIn = median(last - 1000)
  await core.close()
  return { first, farIn }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

const main = async () => {
  console.log(
    `Kurir event log benchmark — node ${process.version}, ${new Date(systemClock.now()).toISOString()}`,
  )
  const rawFull = rawInsertRate('FULL', APPEND_EVENTS)
  const rawNormal = rawInsertRate('NORMAL', APPEND_EVENTS)
  const singleFull = await singleAppendRate('FULL', SINGLE_EVENTS)
  const singleNormal = await singleAppendRate('NORMAL', SINGLE_EVENTS)
  const groupFull = await groupAppendRate('FULL', APPEND_EVENTS)
  const groupNormal = await groupAppendRate('NORMAL', APPEND_EVENTS)
  const longStream = await longStreamPages()

  const file = freshFile()
  const seedStarted = performance.now()
  const core = seedLog(file, REBUILD_EVENTS)
  const seedMs = performance.now() - seedStarted
  // This machine's speed drifts within seconds: three rebuilds of the same log, the median reported.
  const rebuilds = []
  for (let i = 0; i < REBUILD_RUNS; i++) rebuilds.push(await rebuildProjections(core.db))
  const byTime = [...rebuilds].sort((a, b) => a.ms - b.ms)
  const rebuild = byTime[Math.floor(byTime.length / 2)] as (typeof rebuilds)[number]
  const rebuildRate = rebuild.events / (rebuild.ms / 1000)
  const rebuildTimes = rebuilds.map((r) => (r.ms / 1000).toFixed(2)).join(' / ')

  // Trace: a job stream with a retry (6 events), cold (first) and warm (median of 200).
  const traced = streamIds.job(`01J${String(5).padStart(23, '0')}`)
  const coldStarted = performance.now()
  const lines = traceStream(core.store, traced).length
  const coldMs = performance.now() - coldStarted
  const samples: number[] = []
  for (let i = 0; i < 200; i++) {
    const s = performance.now()
    traceStream(core.store, traced)
    samples.push(performance.now() - s)
  }
  samples.sort((a, b) => a - b)
  const warmMs = samples[100] ?? Number.NaN
  const p99Ms = samples[198] ?? Number.NaN
  await core.close()

  const rows: [string, string, string, string][] = [
    ['raw better-sqlite3 insert, 1,000/tx, FULL (baseline)', `${fmt(rawFull)} ev/s`, '1.00', ''],
    ['raw better-sqlite3 insert, 1,000/tx, NORMAL (baseline)', `${fmt(rawNormal)} ev/s`, '1.00', ''],
    ['append, one event per commit, FULL', `${fmt(singleFull)} ev/s`, (singleFull / rawFull).toFixed(3), ''],
    [
      'append, one event per commit, NORMAL',
      `${fmt(singleNormal)} ev/s`,
      (singleNormal / rawNormal).toFixed(3),
      '',
    ],
    [
      'append, group commit, FULL',
      `${fmt(groupFull)} ev/s`,
      (groupFull / rawFull).toFixed(3),
      groupFull >= 50_000 ? 'goal ≥ 50,000: met' : 'goal ≥ 50,000: MISSED',
    ],
    ['append, group commit, NORMAL', `${fmt(groupNormal)} ev/s`, (groupNormal / rawNormal).toFixed(3), ''],
    [
      `rebuild all projections, ${fmt(rebuild.events)} events / ${fmt(rebuild.streams)} streams, median of ${REBUILD_RUNS}`,
      `${fmt(rebuildRate)} ev/s (${(rebuild.ms / 1000).toFixed(2)} s)`,
      (rebuildRate / rawFull).toFixed(3),
      rebuildRate >= 200_000 ? 'goal ≥ 200,000: met' : 'goal ≥ 200,000: MISSED',
    ],
    [
      `trace one stream (${lines} events), cold`,
      `${coldMs.toFixed(3)} ms`,
      '',
      coldMs <= 5 ? 'goal ≤ 5 ms: met' : 'goal ≤ 5 ms: MISSED',
    ],
    [
      `trace one stream (${lines} events), warm median / p99`,
      `${warmMs.toFixed(3)} / ${p99Ms.toFixed(3)} ms`,
      '',
      '',
    ],
    [
      `page of 100 of a ${fmt(LONG_STREAM_EVENTS)}-event stream, from its start`,
      `${longStream.first.toFixed(3)} ms`,
      '',
      '',
    ],
    [
      `page of 100 of a ${fmt(LONG_STREAM_EVENTS)}-event stream, far in`,
      `${longStream.farIn.toFixed(3)} ms`,
      `${(longStream.farIn / longStream.first).toFixed(2)} × start`,
      '',
    ],
  ]
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]?.length ?? 0), 8))
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' │ ')
  console.log(line(['measure', 'result', 'vs raw', 'goal']))
  console.log(widths.map((w) => '─'.repeat(w)).join('─┼─'))
  for (const r of rows) console.log(line(r))
  console.log(`(seeding the ${fmt(REBUILD_EVENTS)}-event log, not measured: ${(seedMs / 1000).toFixed(1)} s)`)
  console.log(`(the ${REBUILD_RUNS} rebuilds, in order: ${rebuildTimes} s)`)
}

try {
  await main()
} finally {
  rmSync(root, { recursive: true, force: true })
}
