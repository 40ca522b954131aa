// A real gateway in a child process (`kurir serve` on the simulator), listening on a free port, with an
// admin signed in: for the tests that need the whole program, not the app in-process.
import { type ChildProcess, spawn } from 'node:child_process'

const BIN = new URL('../../src/cli/kurir.mjs', import.meta.url).pathname

export const GATEWAY_ADMIN = { email: 'ops@example.com', password: 'gateway test password' }

export interface GatewayProcess {
  child: ChildProcess
  base: string
  auth: { Authorization: string }
}

/**
 * @param env added to (and overriding) the simulator defaults
 * @example
 * const gw = await startGatewayProcess(dataDir, { SIM_LINK_AFTER_MS: '-1' })
 * await fetch(`${gw.base}/api/whatsapp/status`, { headers: gw.auth })
 */
export const startGatewayProcess = async (
  dataDir: string,
  env: Record<string, string> = {},
): Promise<GatewayProcess> => {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      WA_ENGINE: 'simulator',
      SIM_LINK_AFTER_MS: '0',
      SQLITE_SYNCHRONOUS: 'FULL',
      ADMIN_EMAIL: GATEWAY_ADMIN.email,
      ADMIN_PASSWORD: GATEWAY_ADMIN.password,
      BCRYPT_COST: '10',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  let out = ''
  let found = false
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited early (${code}): ${out}`)))
    child.stdout?.on('data', (chunk: Buffer) => {
      if (found) return
      out += chunk.toString()
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(out)
      if (m) {
        found = true
        out = ''
        resolve(Number(m[1]))
      }
    })
  })
  child.removeAllListeners('exit')
  const base = `http://127.0.0.1:${port}`
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(GATEWAY_ADMIN),
  })
  const { token } = (await login.json()) as { token: string }
  return { child, base, auth: { Authorization: `Bearer ${token}` } }
}

/** SIGKILL, as a crash would. */
export const killGateway = (child: ChildProcess) => {
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  return exited
}

/** SIGTERM, and wait for the graceful exit. */
export const stopGateway = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
