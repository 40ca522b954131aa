// npm run bench:http — the gateway and a bare Hono hello-world, each in its own process, loaded in the same
// run with the same autocannon settings; prints req/s and p50/p99 latency with the ratio to the hello-world.
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { openCore } from '../src/core/open-core.ts'
import { fmt, freePort, printTable, signIn, startGateway, startHelloWorld, stopProcesses } from './support.ts'

const CONNECTIONS = 50
const DURATION_S = Number(process.env['BENCH_HTTP_SECONDS'] ?? 10)
const ADMIN = { email: 'bench@example.com', password: 'bench password 1' }

// USER_HZ: the unit of /proc/<pid>/stat times, 100 on every Linux Node runs on.
const USER_HZ = 100

/** CPU seconds a process has used so far (Linux); NaN where /proc is not there. */
const cpuSecondsOf = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ
  } catch {
    return Number.NaN
  }
}

const load = async (server: ChildProcess, url: string, headers: Record<string, string> = {}) => {
  // A short warm-up, then the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: 2, headers })
  const cpuBefore = cpuSecondsOf(server.pid)
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers })
  const cpu = cpuSecondsOf(server.pid) - cpuBefore
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`)
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    // The server's own CPU time per answer: steadier than req/s on a shared machine.
    cpuUs: (cpu * 1e6) / r.requests.total,
  }
}

const main = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kurir-bench-http-'))
  try {
    // One event to read: appended before the gateway starts.
    const core = openCore({ file: join(dataDir, 'kurir.db'), synchronous: 'NORMAL' })
    await core.store.append(
      'queue-default',
      [{ type: 'QueuePaused', data: { at: new Date().toISOString() } }],
      { expectedVersion: 'no_stream' },
    )
    await core.close()

    const helloPort = await freePort()
    const gatewayPort = await freePort()
    const helloServer = await startHelloWorld(helloPort)
    const gateway = await startGateway(gatewayPort, {
      DATA_DIR: dataDir,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      SQLITE_SYNCHRONOUS: 'NORMAL',
      // The default session runs on the simulator: a benchmark has no phone to scan a QR.
      WA_ENGINE: 'simulator',
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    })
    const base = `http://127.0.0.1:${gatewayPort}`
    const auth = await signIn(base, ADMIN)

    const hello = await load(helloServer, `http://127.0.0.1:${helloPort}/`)
    const status = await load(gateway, `${base}/api/whatsapp/status`, auth)
    const event = await load(gateway, `${base}/api/events?stream=queue-default&limit=1`, auth)

    const us = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-')
    const rows: string[][] = [
      ['measure', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'vs hello-world', 'goal'],
      [
        'bare Hono hello-world (baseline)',
        fmt(hello.rps),
        String(hello.p50),
        String(hello.p99),
        us(hello.cpuUs),
        '1.00',
        '',
      ],
      [
        'GET /api/whatsapp/status, authenticated',
        fmt(status.rps),
        String(status.p50),
        String(status.p99),
        us(status.cpuUs),
        (status.rps / hello.rps).toFixed(2),
        '',
      ],
      [
        'GET /api/events (one event), authenticated',
        fmt(event.rps),
        String(event.p50),
        String(event.p99),
        us(event.cpuUs),
        (event.rps / hello.rps).toFixed(2),
        event.rps / hello.rps >= 0.5 ? '≥ 0.50: met' : '≥ 0.50: MISSED',
      ],
    ]
    printTable(
      `Kurir HTTP benchmark — node ${process.version}, ${CONNECTIONS} connections, ${DURATION_S} s each`,
      rows,
    )
  } finally {
    stopProcesses()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
