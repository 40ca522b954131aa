// What the benchmarks share: free ports, the processes they start (a gateway, the hello-world baseline),
// signing in, and the table they print.
import { type ChildProcess, spawn } from 'node:child_process'

export { freePort } from '../test/support/free-port.ts'

const children: ChildProcess[] = []

/** Starts a Node process and resolves once its standard output matches `ready`. */
export const startProcess = (args: string[], env: NodeJS.ProcessEnv, ready: RegExp) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      // A gateway draws its QR on stderr; a benchmark has no phone to scan it.
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    children.push(child)
    let out = ''
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)))
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (ready.test(out)) {
        out = ''
        // Keep draining the output so a full pipe never blocks the server.
        child.stdout?.removeAllListeners('data')
        child.stdout?.resume()
        resolve(child)
      }
    })
  })

/** The bare Hono hello-world every figure is compared with. */
export const startHelloWorld = (port: number) =>
  startProcess(
    ['--import', 'tsx', new URL('./hello-world.ts', import.meta.url).pathname],
    { PORT: String(port) },
    /ready/,
  )

/** `kurir serve` on this port, with these settings. */
export const startGateway = (port: number, env: NodeJS.ProcessEnv) =>
  startProcess(
    [new URL('../src/cli/kurir.mjs', import.meta.url).pathname, 'serve'],
    { PORT: String(port), LOG_LEVEL: 'info', ...env },
    /listening on/,
  )

/** Ends every process a benchmark started. */
export const stopProcesses = () => {
  for (const c of children.splice(0)) c.kill('SIGTERM')
}

/** Signs in and answers the Authorization header to send. */
export const signIn = async (base: string, user: { email: string; password: string }) => {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(user),
  })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`)
  const { token } = (await res.json()) as { token: string }
  return { Authorization: `Bearer ${token}` }
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/** Prints a title and a table whose first row is its header. */
export const printTable = (title: string, rows: string[][]) => {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => r[c]?.length ?? 0))) ?? []
  console.log(title)
  rows.forEach((r, i) => {
    console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' │ '))
    if (i === 0) console.log(widths.map((w) => '─'.repeat(w)).join('─┼─'))
  })
}

/** The data of a `JobQueued` fact as the gateway writes it: a normal-priority job of the default session. */
export const jobQueuedData = (
  jobId: string,
  chatId: string,
  at: string,
  overrides: { body?: string; priority?: 'high' | 'normal' | 'low' } = {},
) => ({
  jobId,
  sessionId: 'default',
  chatId,
  body: overrides.body ?? 'Your invoice INV-2026-0042 is due on 31 January.',
  priority: overrides.priority ?? 'normal',
  maxAttempts: 5,
  backoffBaseMs: 2000,
  backoffMaxMs: 60_000,
  sendAt: null,
  idempotencyKey: null,
  at,
})
