// The HTTP app over a real core and real auth (SQLite file in a temp folder, fake clock), for
// app.request() tests, with a logged-in admin.
import { createApp } from '../../src/api/app.ts'
import type { ApiDeps } from '../../src/api/deps.ts'
import { createLoginThrottle } from '../../src/auth/login-throttle.ts'
import { createTokenService } from '../../src/auth/tokens.ts'
import { createUserStore } from '../../src/auth/users.ts'
import { createSimulator } from '../../src/engines/simulator.ts'
import { ulidSource } from '../../src/ids.ts'
import { createMetrics } from '../../src/metrics.ts'
import { openRuntime } from '../../src/runtime/open-runtime.ts'
import { createFakeClock } from './fake-clock.ts'
import { openTestCore } from './store.ts'

const silentLog = { debug() {}, info() {}, warn() {}, error() {} }

export const SECRET = 'test-secret-that-is-long-enough-0123456789'
export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery' }

export const openTestApi = async (
  dir: string,
  options: Pick<ApiDeps, 'bodyLimitBytes' | 'log' | 'accessLog' | 'corsOrigins'> & {
    /** SIM_LINK_AFTER_MS of the simulator behind the sessions (default -1: link on request). */
    linkAfterMs?: number
    /** SIM_SEND_LATENCY_MS of the simulator (default 0). */
    sendLatencyMs?: number
    /** Where the runtime (sessions, dispatchers) logs; silent unless given. */
    runtimeLog?: Parameters<typeof openRuntime>[0]['log']
    /** The fake clock's first reading (a process started again later, over the same folder). */
    clockStartMs?: number
  } = {},
) => {
  const { linkAfterMs = -1, sendLatencyMs = 0, runtimeLog = silentLog, clockStartMs, ...appOptions } = options
  const clock = createFakeClock(clockStartMs)
  const metrics = createMetrics()
  const core = openTestCore(dir, { clock, onCommitted: (n, s) => metrics.committed(n, s) })
  metrics.watch({ db: core.db, lastPosition: () => core.store.lastPosition() })
  const newId = ulidSource(clock)
  const simulator = createSimulator({ dataDir: dir, clock, newId, linkAfterMs, sendLatencyMs })
  const runtime = openRuntime({
    core,
    engines: simulator,
    log: runtimeLog,
    random: () => 0.5,
    metrics: metrics.send,
  })
  const { scheduler, sessions, dispatchers } = runtime
  await dispatchers.boot()
  const users = createUserStore({ db: core.db, clock, newId, bcryptCost: 10 })
  const tokens = createTokenService({ db: core.db, users, secret: SECRET, clock, newId })
  const throttle = createLoginThrottle({ clock })
  const app = createApp({
    db: core.db,
    store: core.store,
    clock,
    auth: { users, tokens, throttle },
    commands: core.commands,
    newId,
    dataDir: dir,
    metrics,
    sessions,
    simulator,
    ...appOptions,
  })
  await users.ensureAdmin(ADMIN)
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const login = async (credentials = ADMIN) => {
    const res = await post('/api/auth/login', credentials)
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`)
    return (await res.json()) as { token: string; refreshToken: string; expiresIn: number }
  }
  const get = (path: string, token?: string) =>
    app.request(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {})
  /** Lets the engines' work and the timers due by now run to the end. */
  const settle = async () => {
    // Sends held by the simulator's latency wait for the clock, so they are not waited for here.
    for (let i = 0; i < 40; i++) {
      await sessions.settled()
      await scheduler.idle()
      await simulator.flushed()
      await new Promise((r) => setImmediate(r))
    }
  }
  return {
    app,
    core,
    clock,
    users,
    tokens,
    sessions,
    simulator,
    scheduler,
    dispatchers,
    runtime,
    post,
    get,
    login,
    settle,
    /** The default session created, started and linked: `ready`. */
    ready: async () => {
      await sessions.create('default')
      await sessions.start('default')
      await settle()
      simulator.link('default')
      await settle()
      if (sessions.get('default').state() !== 'ready') throw new Error('the default session is not ready')
    },
    close: async () => {
      await runtime.close()
      await core.close()
    },
  }
}

/** A response's JSON body, for assertions to look into. */
// biome-ignore lint/suspicious/noExplicitAny: the assertions that read the body check its shape
export const jsonOf = async (res: Response): Promise<any> => res.json()
