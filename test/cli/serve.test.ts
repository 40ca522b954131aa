import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SECURITY_HEADERS } from '../../src/api/edge.ts'
import { loadConfig } from '../../src/config.ts'
import { ConfigError } from '../../src/errors.ts'
import { createLogger } from '../../src/logger.ts'
import { startGateway, TOKEN_PRUNE_EVERY_MS } from '../../src/main.ts'
import { runKurir } from '../support/cli.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { startGatewayProcess, stopGateway } from '../support/gateway-process.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const BIN = new URL('../../src/cli/kurir.mjs', import.meta.url).pathname

/** `startGateway`'s failure, or null when it started (then it is closed again). */
const startFailure = async (env: Record<string, string>) => {
  try {
    const gateway = await startGateway({
      config: loadConfig({ PORT: '0', LOG_LEVEL: 'silent', WA_ENGINE: 'simulator', ...env }),
      log: createLogger('silent'),
    })
    await gateway.close()
    return null
  } catch (err) {
    return err as Error
  }
}

/**
 * A gateway started by a command (`kurir serve`, `npm start`) in a child process on the simulator, once it
 * listens: its port, what it printed so far, a wait for something it prints, and SIGTERM to the command.
 */
const spawnServing = async (command: string, args: string[], env: Record<string, string> = {}) => {
  const child = spawn(command, args, {
    cwd: new URL('../..', import.meta.url).pathname,
    env: {
      ...process.env,
      DATA_DIR: tempDir(),
      PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      WA_ENGINE: 'simulator',
      SIM_LINK_AFTER_MS: '-1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const printed = { output: '', errors: '' }
  const waiters = new Set<() => void>()
  const heard = () => {
    for (const check of waiters) check()
  }
  child.stdout.on('data', (chunk: Buffer) => {
    printed.output += chunk.toString()
    heard()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    printed.errors += chunk.toString()
    heard()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  /** Resolves once what was printed on one side passes the test; rejects if the process ends first. */
  const until = (side: keyof typeof printed, test: (text: string) => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!test(printed[side])) return
        waiters.delete(check)
        resolve()
      }
      waiters.add(check)
      check()
      void exited.then(() => {
        if (waiters.delete(check)) reject(new Error(`exited early: ${printed.output}${printed.errors}`))
      })
    })
  await until('output', (output) => /listening on http:\/\/[\d.]+:\d+/.test(output))
  const port = Number(/listening on http:\/\/[\d.]+:(\d+)/.exec(printed.output)?.[1])
  return {
    port,
    until,
    output: () => printed.output,
    errors: () => printed.errors,
    /** Sends SIGTERM to the command; its exit code. */
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
  }
}

describe('serving', () => {
  it('listens, answers /healthz and unknown routes in the error shape, and closes the database on close', async () => {
    const dataDir = tempDir()
    const gateway = await startGateway({
      config: loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', WA_ENGINE: 'simulator' }),
      log: createLogger('silent'),
    })
    const base = `http://127.0.0.1:${gateway.address.port}`
    const health = await fetch(`${base}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })
    // Served by Node, the headers travel on the Node response: the same set as under app.request().
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(health.headers.get(name)).toBe(value)
    expect(health.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/)
    const echoed = await fetch(`${base}/healthz`, { headers: { 'X-Request-Id': 'req-42' } })
    expect(echoed.headers.get('X-Request-Id')).toBe('req-42')
    const odd = await fetch(`${base}/healthz`, { headers: { 'X-Request-Id': 'a b<c>' } })
    expect(odd.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/)
    const missing = await fetch(`${base}/nowhere`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('X-Frame-Options')).toBe('SAMEORIGIN')
    expect(await missing.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } })
    await gateway.close()
    expect(gateway.core.db.open).toBe(false)
    await expect(fetch(`${base}/healthz`)).rejects.toThrow()
  })

  it('runs as `kurir serve`, prints the QR in the terminal, and shuts down gracefully on SIGTERM', async () => {
    // Standard error is a pipe here: drawn only when asked.
    const served = await spawnServing(process.execPath, [BIN, 'serve'], { QR_TERMINAL: '1', LOG_FORMAT: '' })
    expect((await fetch(`http://127.0.0.1:${served.port}/healthz`)).status).toBe(200)
    // The default session starts by itself on a new install and shows its QR.
    await served.until('errors', (errors) => errors.includes('Scan this QR') && /[▀▄█]/.test(errors))
    expect(served.errors()).toContain('(session default)')
    expect(await served.stop()).toBe(0)
    expect(served.output()).toContain('Kurir stopped')
    expect(served.output()).toContain('QR issued')
    // The JSON log says a QR was issued, never what it was.
    expect(served.output()).not.toContain('sim:default:')
  })

  it('stops gracefully when `npm start` is sent SIGTERM, as a supervisor does', async () => {
    const served = await spawnServing('npm', ['start', '--silent'])
    expect((await fetch(`http://127.0.0.1:${served.port}/healthz`)).status).toBe(200)
    // To npm, not to the gateway: npm passes it to its script, which is the gateway itself.
    await served.stop()
    await expect(fetch(`http://127.0.0.1:${served.port}/healthz`)).rejects.toThrow()
    expect(served.output()).toContain('shutting down')
    expect(served.output()).toContain('Kurir stopped')
  })

  it('finishes the sends under way before it stops on SIGTERM', async () => {
    const dataDir = tempDir()
    const gw = await startGatewayProcess(dataDir, { SIM_SEND_LATENCY_MS: '1500' })
    const post = async (path: string, body: unknown) =>
      fetch(`${gw.base}${path}`, {
        method: 'POST',
        headers: { ...gw.auth, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
    await expect
      .poll(async () => {
        const res = await fetch(`${gw.base}/api/whatsapp/status`, { headers: gw.auth })
        return ((await res.json()) as { session: { state: string } }).session.state
      })
      .toBe('ready')
    expect((await post('/api/whatsapp/queue/config', { maxPerMinute: 0, sameChatGapMs: 0 })).status).toBe(200)
    const { jobId } = (await (
      await post('/api/whatsapp/send-message', { number: '081234567890', message: 'last one out' })
    ).json()) as { jobId: string }
    await expect
      .poll(async () => {
        const res = await fetch(`${gw.base}/api/whatsapp/jobs/${jobId}`, { headers: gw.auth })
        return ((await res.json()) as { status: string }).status
      })
      .toBe('active')

    // Stopped while WhatsApp still has the message: the send finishes, is recorded, then the gateway stops.
    await stopGateway(gw.child)
    const sent = readFileSync(join(dataDir, 'simulator', 'sent.ndjson'), 'utf8')
    expect(sent).toContain('last one out')
    const exported = await runKurir(dataDir, 'events', 'export', '--stream', `job-${jobId}`)
    expect(
      exported.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['JobQueued', 'JobAttemptStarted', 'JobSent'])
  })

  it('draws no QR into a pipe unless QR_TERMINAL=1 asks', async () => {
    const served = await spawnServing(process.execPath, [BIN, 'serve'], { QR_TERMINAL: '' })
    // The log says the QR was issued: the moment it would have been drawn.
    await served.until('output', (output) => output.includes('QR issued'))
    expect(await served.stop()).toBe(0)
    expect(served.errors()).not.toContain('Scan this QR')
    expect(served.errors()).not.toMatch(/[▀▄█]/)
  })

  it('names the variable to change when it cannot start, and leaves nothing behind', async () => {
    const dir = tempDir()
    const first = await startGateway({
      config: loadConfig({ DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'silent', WA_ENGINE: 'simulator' }),
      log: createLogger('silent'),
    })
    try {
      const taken = await startFailure({ DATA_DIR: tempDir(), PORT: String(first.address.port) })
      expect(taken).toBeInstanceOf(ConfigError)
      expect(taken?.message).toMatch(/another process already does \(change PORT\)/)
    } finally {
      await first.close()
    }
    const unknownHost = await startFailure({ DATA_DIR: tempDir(), HOST: 'no.such.host.invalid' })
    expect(unknownHost?.message).toMatch(/HOST no.such.host.invalid is not a known host name/)
    const file = join(tempDir(), 'a-file')
    writeFileSync(file, 'not a folder')
    expect((await startFailure({ DATA_DIR: file }))?.message).toMatch(/DATA_DIR .* is not a folder/)
    const badAdmin = await startFailure({
      DATA_DIR: tempDir(),
      ADMIN_EMAIL: 'admin@example.com',
      ADMIN_PASSWORD: 'short',
    })
    expect(badAdmin?.message).toMatch(/^ADMIN_EMAIL \/ ADMIN_PASSWORD: a password needs/)
    // In production, a missing secret stops the start before the database is made.
    const bare = tempDir()
    const production = await startFailure({ DATA_DIR: bare, NODE_ENV: 'production' })
    expect(production?.message).toMatch(/JWT_SECRET is required/)
    expect(existsSync(join(bare, 'kurir.db'))).toBe(false)
  })

  it('warns, outside production, that a JWT_SECRET shorter than 32 characters is weak, never logging it', async () => {
    const lines: string[] = []
    const gateway = await startGateway({
      config: loadConfig({
        DATA_DIR: tempDir(),
        PORT: '0',
        WA_ENGINE: 'simulator',
        JWT_SECRET: 'short-dev-secret',
      }),
      log: createLogger('info', { write: (line: string) => lines.push(line) }),
    })
    await gateway.close()
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('JWT_SECRET is shorter'))
    expect(warnings).toMatchObject([{ level: 40, length: 16, minimum: 32 }])
    expect(lines.join('')).not.toContain('short-dev-secret')
  })

  it('removes refresh tokens past their expiry at start and every few hours, keeping the others', async () => {
    const clock = createFakeClock()
    const gateway = await startGateway({
      config: loadConfig({ DATA_DIR: tempDir(), PORT: '0', WA_ENGINE: 'simulator', BCRYPT_COST: '10' }),
      log: createLogger('silent'),
      clock,
    })
    try {
      const user = await gateway.users.add({
        email: 'a@example.com',
        password: 'correct horse battery',
        role: 'admin',
      })
      const insert = gateway.core.db.prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at_ms) VALUES (?, 'f', ?, ?)",
      )
      insert.run('a'.repeat(64), user.id, clock.now() + TOKEN_PRUNE_EVERY_MS - 1)
      insert.run('b'.repeat(64), user.id, clock.now() + TOKEN_PRUNE_EVERY_MS + 1)
      const left = () =>
        gateway.core.db.prepare('SELECT token_hash FROM refresh_tokens ORDER BY 1').pluck().all()
      clock.advance(TOKEN_PRUNE_EVERY_MS - 1)
      expect(left()).toHaveLength(2)
      clock.advance(1)
      expect(left()).toEqual(['b'.repeat(64)])
    } finally {
      await gateway.close()
    }
  })

  it('refuses to start on invalid configuration, naming the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/)
    // Decimal digits only; blank is unset.
    for (const port of ['0x1034', '4.14e3', '-1', '65536', '+80'])
      expect(() => loadConfig({ PORT: port })).toThrow(/PORT/)
    expect(loadConfig({ PORT: ' ' }).port).toBe(3000)
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080)
    expect(() => loadConfig({ DEFAULT_COUNTRY_CODE: '999' })).toThrow(
      /DEFAULT_COUNTRY_CODE.*not a country calling code/,
    )
    expect(loadConfig({ DEFAULT_COUNTRY_CODE: '44' }).defaultCountryCode).toBe('44')
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug')
    expect(() => loadConfig({ ADMIN_EMAIL: 'admin@example.com' })).toThrow(
      /ADMIN_EMAIL and ADMIN_PASSWORD go together/,
    )
    expect(() => loadConfig({ ADMIN_PASSWORD: 'correct horse battery' })).toThrow(/ADMIN_EMAIL/)
    expect(() => loadConfig({ SQLITE_SYNCHRONOUS: 'OFF' })).toThrow(/SQLITE_SYNCHRONOUS/)
    expect(loadConfig({ SQLITE_SYNCHRONOUS: 'normal' }).synchronous).toBe('NORMAL')
  })
})
