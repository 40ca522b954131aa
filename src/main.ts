// Composition root: config → database → migrations → core → timers → HTTP.
import { serve } from '@hono/node-server'
import { createApp } from './api/app.ts'
import { MIN_JWT_SECRET_LENGTH, resolveJwtSecret } from './auth/jwt-secret.ts'
import { createLoginThrottle } from './auth/login-throttle.ts'
import { createTokenService } from './auth/tokens.ts'
import { createUserStore, type UserStore } from './auth/users.ts'
import type { Clock, TimerHandle } from './clock.ts'
import { type Config, ensureDataDir } from './config.ts'
import { type Core, openCore } from './core/open-core.ts'
import { ConfigError, ValidationError } from './errors.ts'
import { ulidSource } from './ids.ts'
import { type Logger, unredacted } from './logger.ts'
import { createMetrics } from './metrics.ts'
import { enginesOf } from './runtime/engines-of.ts'
import { openRuntime } from './runtime/open-runtime.ts'
import type { SessionManager } from './runtime/session-manager.ts'
import type { TimerScheduler } from './runtime/timer-scheduler.ts'

export interface Gateway {
  core: Core
  users: UserStore
  scheduler: TimerScheduler
  sessions: SessionManager
  /** The bound address once listening. */
  address: { host: string; port: number }
  close(): Promise<void>
}

/**
 * Authenticated requests check that their user still exists; the answer is reused for this long, so a
 * user removed by another process (`kurir user remove`) is shut out within a second.
 */
const USER_LOOKUP_MAX_AGE_MS = 1000

/** How long in-flight requests may take to finish once shutdown begins. */
const SHUTDOWN_GRACE_MS = 10_000

export interface GatewayOptions {
  config: Config
  log: Logger
  clock?: Clock
  /** Hears every QR as it is issued (`kurir serve` prints it in the terminal). */
  onQr?: (sessionId: string, qr: string) => void
}

/**
 * Starts everything and resolves once the HTTP server listens.
 *
 * @example
 * const gw = await startGateway({ config: loadConfig(), log })
 * await gw.close()
 */
/** Why the HTTP server could not listen, naming the variables to change. */
const listenProblem = (err: NodeJS.ErrnoException, config: Pick<Config, 'host' | 'port'>): Error => {
  const where = `${config.host}:${config.port}`
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(`cannot listen on ${where}: another process already does (change PORT)`)
    case 'EACCES':
      return new ConfigError(`cannot listen on ${where}: not allowed (a PORT under 1024 needs privileges)`)
    case 'EADDRNOTAVAIL':
      return new ConfigError(`cannot listen on ${where}: HOST is not an address of this machine`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`cannot listen on ${where}: HOST ${config.host} is not a known host name`)
    default:
      return err
  }
}

/** How often refresh tokens past their expiry are removed. */
export const TOKEN_PRUNE_EVERY_MS = 6 * 3600_000

export const startGateway = async ({ config, log, clock, onQr }: GatewayOptions): Promise<Gateway> => {
  ensureDataDir(config.dataDir)
  // Before anything is written: in production a missing secret stops the start here.
  const secret = resolveJwtSecret({
    secretFromEnv: config.jwtSecret,
    dataDir: config.dataDir,
    production: config.production,
  })
  if (
    config.jwtSecret !== undefined &&
    config.jwtSecret.length > 0 &&
    config.jwtSecret.length < MIN_JWT_SECRET_LENGTH
  ) {
    // Refused in production; elsewhere the start goes on, but the weak key should not go unnoticed.
    log.warn(
      { length: config.jwtSecret.length, minimum: MIN_JWT_SECRET_LENGTH },
      `JWT_SECRET is shorter than ${MIN_JWT_SECRET_LENGTH} characters: tokens signed with it can be guessed; NODE_ENV=production refuses it`,
    )
  }
  const metrics = createMetrics()
  const core = openCore({
    onCommitted: (appends, seconds) => metrics.committed(appends, seconds),
    file: config.dbFile,
    synchronous: config.synchronous,
    ...(clock ? { clock } : {}),
    onSubscriberError: (err) => log.error({ err }, 'event subscriber failed'),
  })
  log.info({ dbFile: config.dbFile, synchronous: config.synchronous }, 'database ready')
  metrics.watch({ db: core.db, lastPosition: () => core.store.lastPosition() })
  const newId = ulidSource(core.clock)
  const users = createUserStore({
    db: core.db,
    clock: core.clock,
    newId,
    bcryptCost: config.bcryptCost,
    lookupMaxAgeMs: USER_LOOKUP_MAX_AGE_MS,
  })
  if (config.adminEmail && config.adminPassword) {
    try {
      const created = await users.ensureAdmin({ email: config.adminEmail, password: config.adminPassword })
      if (created) log.info({ email: config.adminEmail }, 'created the first user from ADMIN_EMAIL')
    } catch (err) {
      await core.close()
      if (err instanceof ValidationError)
        throw new ConfigError(`ADMIN_EMAIL / ADMIN_PASSWORD: ${err.message}`)
      throw err
    }
  }
  if (users.count() === 0) {
    log.warn(
      'no user yet: add one with `npx kurir user add --email you@example.com --password …` ' +
        'or set ADMIN_EMAIL and ADMIN_PASSWORD',
    )
  }
  const { engines, simulator, problem } = await enginesOf(config, { clock: core.clock, newId })
  if (problem) log.error({ err: problem }, `WhatsApp cannot start: ${problem.message}`)
  log.info({ engine: engines.kind }, 'WhatsApp engine')
  const runtime = openRuntime({
    core,
    engines,
    log,
    defaults: { keepaliveMs: config.keepaliveMs },
    metrics: metrics.send,
    ...(onQr ? { onQr } : {}),
  })
  const { scheduler, sessions } = runtime
  await sessions.boot()
  await runtime.dispatchers.boot()
  const tokens = createTokenService({ db: core.db, users, secret, clock: core.clock, newId })
  const throttle = createLoginThrottle({ clock: core.clock })
  // Every sign-in and refresh adds a refresh token; those past their 30 days go, at start and then
  // every few hours (spent ones stay until then, so that their reuse is still recognised).
  let pruning: TimerHandle | null = null
  const pruneTokens = () => {
    try {
      const removed = tokens.prune()
      if (removed > 0) log.info({ removed }, 'expired refresh tokens removed')
    } catch (err) {
      log.warn({ err }, 'expired refresh tokens could not be removed; trying again later')
    }
    pruning = core.clock.setTimer(pruneTokens, TOKEN_PRUNE_EVERY_MS)
  }
  pruneTokens()
  // Ends open event streams when the gateway closes, so that closing does not wait on them.
  const shutdown = new AbortController()
  const app = createApp({
    db: core.db,
    store: core.store,
    clock: core.clock,
    auth: { users, tokens, throttle, trustedProxies: config.trustedProxies },
    commands: core.commands,
    newId,
    dataDir: config.dataDir,
    metrics,
    sessions,
    defaultCountryCode: config.defaultCountryCode,
    ...(simulator ? { simulator } : {}),
    log,
    accessLog: unredacted(log),
    corsOrigins: config.corsOrigins,
    shutdown: shutdown.signal,
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolveServer(s))
    s.once('error', reject)
  }).catch(async (err: NodeJS.ErrnoException) => {
    // Nothing may keep running (an engine's browser least of all) when the gateway cannot serve.
    await runtime.close()
    await core.close()
    throw listenProblem(err, config)
  })
  const bound = server.address()
  const address =
    bound && typeof bound === 'object'
      ? { host: bound.address, port: bound.port }
      : { host: config.host, port: config.port }
  log.info(address, `Kurir listening on http://${address.host}:${address.port}`)
  let closing: Promise<void> | null = null
  return {
    core,
    users,
    scheduler,
    sessions,
    address,
    close() {
      closing ??= (async () => {
        // The process lives until the close is done, whatever else still holds it: the last sends may
        // wait on nothing but a timer, and the clock's timers do not keep a process alive.
        const alive = setInterval(() => {}, 60_000)
        try {
          // Stop accepting, end event streams and idle keep-alive connections, let in-flight requests
          // finish; connections still busy after the grace period are cut.
          const closed = new Promise<void>((r) => server.close(() => r()))
          shutdown.abort()
          const http = server as unknown as {
            closeIdleConnections?: () => void
            closeAllConnections?: () => void
          }
          // Connections become idle as their last response ends: keep closing them until none is left.
          http.closeIdleConnections?.()
          const sweep = setInterval(() => http.closeIdleConnections?.(), 50)
          const grace = setTimeout(() => http.closeAllConnections?.(), SHUTDOWN_GRACE_MS)
          await closed
          pruning?.cancel()
          clearInterval(sweep)
          clearTimeout(grace)
          await runtime.close()
          await core.close()
        } finally {
          clearInterval(alive)
        }
        log.info('Kurir stopped')
      })()
      return closing
    },
  }
}
