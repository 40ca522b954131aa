// npm run bench:queue — the message queue on the simulator (no latency, no pacing): durable enqueue over
// HTTP next to a bare Hono hello-world in the same run, jobs completed per second at concurrency 3 and 50,
// and enqueue-to-send latency on an idle queue.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { systemClock } from '../src/clock.ts'
import { streamIds } from '../src/core/aggregates.ts'
import { openCore } from '../src/core/open-core.ts'
import { createSimulator } from '../src/engines/simulator.ts'
import { ulidSource } from '../src/ids.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { openRuntime } from '../src/runtime/open-runtime.ts'
import {
  fmt,
  freePort,
  jobQueuedData,
  printTable,
  signIn,
  startGateway,
  startHelloWorld,
  stopProcesses,
} from './support.ts'

const SECONDS = Number(process.env['BENCH_QUEUE_SECONDS'] ?? 10)
const JOBS = Number(process.env['BENCH_QUEUE_JOBS'] ?? 20_000)
const LATENCY_SAMPLES = 300
const ADMIN = { email: 'bench@example.com', password: 'bench password 1' }
const UNPACED = { maxPerMinute: 0, sameChatGapMs: 0, paceSpreadMs: 0 }
const silent = { debug() {}, info() {}, warn() {}, error() {} }
const root = mkdtempSync(join(tmpdir(), 'kurir-bench-queue-'))
let dirs = 0
const freshDir = () => join(root, `run-${++dirs}`)

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0

/** Durable enqueue over HTTP (synchronous=FULL, the queue paused so nothing is sent) and the hello-world. */
const enqueueOverHttp = async () => {
  const helloPort = await freePort()
  const gatewayPort = await freePort()
  await startHelloWorld(helloPort)
  await startGateway(gatewayPort, {
    DATA_DIR: freshDir(),
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    SQLITE_SYNCHRONOUS: 'FULL',
    WA_ENGINE: 'simulator',
    SIM_LINK_AFTER_MS: '-1',
  })
  const base = `http://127.0.0.1:${gatewayPort}`
  const auth = await signIn(base, ADMIN)
  const run = async (opts: autocannon.Options) => {
    await autocannon({ ...opts, duration: 2 })
    const r = await autocannon({ ...opts, duration: SECONDS })
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${opts.url}: ${r.non2xx} non-2xx, ${r.errors} errors`)
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 }
  }
  const hello = await run({ url: `http://127.0.0.1:${helloPort}/`, connections: 50 })
  const enqueue = await run({
    url: `${base}/api/whatsapp/send-message`,
    connections: 50,
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ number: '081234567890', message: 'Your invoice 42 is due on Friday.' }),
  })
  stopProcesses()
  return { hello, enqueue }
}

/** A core, a ready simulated session and its dispatcher, in this process, on the system clock. */
const openQueue = async (concurrency: number) => {
  const clock = systemClock
  const core = openCore({ file: join(freshDir(), 'kurir.db'), synchronous: 'FULL', clock })
  const newId = ulidSource(clock)
  const simulator = createSimulator({ dataDir: freshDir(), clock, newId, linkAfterMs: 0 })
  const runtime = openRuntime({ core, engines: simulator, log: silent })
  const { sessions, dispatchers } = runtime
  await sessions.boot()
  while (sessions.get('default').state() !== 'ready') await new Promise((r) => setTimeout(r, 5))
  await dispatchers.boot()
  const at = () => new Date(clock.now()).toISOString()
  await core.commands.execute(streamIds.queue('default'), () => [
    { type: 'QueueConfigured', data: { changes: { ...UNPACED, concurrency }, at: at() } },
  ])
  const enqueue = (i: number, jobId = newId()) =>
    core.commands
      .execute(streamIds.job(jobId), () => [
        {
          type: 'JobQueued',
          data: jobQueuedData(
            jobId,
            // Last four digits 3000…7999: numbers the simulator sends to.
            `62812${String(Math.floor(i / 5000) % 10_000).padStart(4, '0')}${3000 + (i % 5000)}@c.us`,
            at(),
            { body: `message ${i}` },
          ),
        },
      ])
      .then(() => jobId)
  const close = async () => {
    await runtime.close()
    await core.close()
  }
  return { core, enqueue, newId, at, close }
}

/** Jobs completed per second: JOBS queued while paused, then the queue resumed. */
const throughput = async (concurrency: number) => {
  const q = await openQueue(concurrency)
  await q.core.commands.execute(streamIds.queue('default'), () => [
    { type: 'QueuePaused', data: { at: q.at() } },
  ])
  for (let i = 0; i < JOBS; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, JOBS - i) }, (_, k) => q.enqueue(i + k)))
  }
  let sent = 0
  const done = new Promise<void>((resolve) => {
    q.core.store.subscribe((events) => {
      for (const e of events) {
        if ((e.type === 'JobSent' || e.type === 'JobAttemptFailed') && ++sent === JOBS) resolve()
      }
    })
  })
  const started = performance.now()
  await q.core.commands.execute(streamIds.queue('default'), () => [
    { type: 'QueueResumed', data: { at: q.at() } },
  ])
  await done
  const seconds = (performance.now() - started) / 1000
  await q.close()
  return JOBS / seconds
}

/** Enqueue to JobSent committed, one job at a time on an idle queue. */
const latency = async () => {
  const q = await openQueue(3)
  const waiting = new Map<string, () => void>()
  q.core.store.subscribe((events) => {
    for (const e of events) if (e.type === 'JobSent') waiting.get(e.streamId)?.()
  })
  const samples: number[] = []
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const jobId = q.newId()
    const stream = streamIds.job(jobId)
    const sent = new Promise<void>((resolve) => waiting.set(stream, resolve))
    const t0 = performance.now()
    await q.enqueue(i, jobId)
    await sent
    waiting.delete(stream)
    // The first runs warm the code up.
    if (i >= 20) samples.push(performance.now() - t0)
  }
  await q.close()
  samples.sort((a, b) => a - b)
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) }
}

/** A log of 1,000,000 events holding 100,000 waiting jobs, written raw and projected by a rebuild. */
const seedLargeLog = async (dataDir: string) => {
  const core = openCore({ file: join(dataDir, 'kurir.db'), synchronous: 'NORMAL' })
  const insert = core.db.prepare(
    `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at)
     VALUES (?, ?, 'job', ?, ?, 1, ?, '{"machineVersion":1}', ?)`,
  )
  const t0 = Date.now() - 3600_000
  let id = 0
  const eventId = () => `01H${String(++id).padStart(23, '0')}`
  core.db.pragma('synchronous = OFF')
  const WAITING = 100_000
  const FINISHED = 300_000
  for (let first = 0; first < WAITING + FINISHED; first += 10_000) {
    core.db.transaction(() => {
      for (let job = first; job < Math.min(first + 10_000, WAITING + FINISHED); job++) {
        const jobId = `01J${String(job).padStart(23, '0')}`
        const at = (ms: number) => new Date(t0 + job + ms).toISOString()
        const queued = jobQueuedData(
          jobId,
          `62812${String(3000 + (job % 5000)).padStart(8, '0')}@c.us`,
          at(0),
          {
            priority: job % 7 === 0 ? 'high' : 'normal',
          },
        )
        const facts: [string, object][] = [['JobQueued', queued]]
        if (job >= WAITING) {
          facts.push(['JobAttemptStarted', { attempt: 1, at: at(1) }])
          facts.push(['JobSent', { attempt: 1, messageId: `true_${jobId}`, at: at(2) }])
        }
        facts.forEach(([type, d], v) => {
          insert.run(eventId(), streamIds.job(jobId), v + 1, type, JSON.stringify(d), at(0))
        })
      }
    })()
  }
  const events = core.db.prepare('SELECT count(*) FROM events').pluck().get() as number
  await rebuildProjections(core.db)
  await core.close()
  return { events, waiting: WAITING }
}

/** The gateway's resident memory over a log of 1,000,000 events with 100,000 jobs waiting. */
const memory = async () => {
  const dataDir = freshDir()
  const seeded = await seedLargeLog(dataDir)
  const port = await freePort()
  const gateway = await startGateway(port, {
    DATA_DIR: dataDir,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    WA_ENGINE: 'simulator',
    SIM_LINK_AFTER_MS: '-1',
  })
  const rssMb = () => {
    const status = readFileSync(`/proc/${gateway.pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
  }
  const base = `http://127.0.0.1:${port}`
  const auth = await signIn(base, ADMIN)
  let most = rssMb()
  for (let i = 0; i < 20; i++) {
    for (const path of [
      '/api/whatsapp/status',
      '/api/whatsapp/queue/stats',
      '/api/whatsapp/jobs?limit=100',
    ]) {
      const res = await fetch(`${base}${path}`, { headers: auth })
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
      await res.arrayBuffer()
    }
    most = Math.max(most, rssMb())
    await new Promise((r) => setTimeout(r, 100))
  }
  const waiting = (
    (await (await fetch(`${base}/api/whatsapp/queue/stats`, { headers: auth })).json()) as {
      counts: { waiting: number }
    }
  ).counts.waiting
  stopProcesses()
  return { ...seeded, waitingSeen: waiting, rssMb: most }
}

const main = async () => {
  try {
    const { hello, enqueue } = await enqueueOverHttp()
    const c3 = await throughput(3)
    const c50 = await throughput(50)
    const lat = await latency()
    const mem = await memory()
    const ratio = enqueue.rps / hello.rps
    const rows = [
      ['measure', 'result', 'vs baseline', 'goal'],
      [
        'bare Hono hello-world (baseline)',
        `${fmt(hello.rps)} req/s (p50 ${hello.p50} / p99 ${hello.p99} ms)`,
        '1.00',
        '',
      ],
      [
        'POST send-message, durable (FULL)',
        `${fmt(enqueue.rps)} req/s (p50 ${enqueue.p50} / p99 ${enqueue.p99} ms)`,
        ratio.toFixed(2),
        ratio >= 0.4 ? '≥ 0.40: met' : '≥ 0.40: MISSED',
      ],
      [
        'jobs completed, concurrency 3',
        `${fmt(c3)} jobs/s`,
        '',
        c3 >= 12_000 ? '≥ 12,000: met' : '≥ 12,000: MISSED',
      ],
      ['jobs completed, concurrency 50', `${fmt(c50)} jobs/s`, '', ''],
      [
        'enqueue → sent, idle queue',
        `p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`,
        '',
        lat.p50 <= 5 && lat.p99 <= 25 ? 'p50 ≤ 5, p99 ≤ 25: met' : 'p50 ≤ 5, p99 ≤ 25: MISSED',
      ],
      [
        `gateway RSS, ${fmt(mem.events)} events, ${fmt(mem.waitingSeen)} waiting`,
        `${mem.rssMb.toFixed(0)} MB`,
        '',
        mem.rssMb < 200 ? '< 200 MB: met' : '< 200 MB: MISSED',
      ],
    ]
    printTable(
      `Kurir queue benchmark — node ${process.version}, simulator without latency, pacing off, ${fmt(JOBS)} jobs per throughput run`,
      rows,
    )
  } finally {
    stopProcesses()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
