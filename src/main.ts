// Composition root: config → database → migrations → core → timers → HTTP.
import { serve } from '@hono/node-server'
import { createApp } from './api/app.ts'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import { type Core, openCore } from './core/open-core.ts'
import type { Logger } from './logger.ts'
import { createTimerScheduler, type TimerScheduler } from './runtime/timer-scheduler.ts'

export interface Gateway {
  core: Core
  scheduler: TimerScheduler
  /** The bound address once listening. */
  address: { host: string; port: number }
  close(): Promise<void>
}

export interface GatewayOptions {
  config: Config
  log: Logger
  clock?: Clock
}

/**
 * Starts everything and resolves once the HTTP server listens.
 *
 * @example
 * const gw = await startGateway({ config: loadConfig(), log })
 * await gw.close()
 */
export const startGateway = async ({ config, log, clock }: GatewayOptions): Promise<Gateway> => {
  const core = openCore({
    file: config.dbFile,
    synchronous: config.synchronous,
    ...(clock ? { clock } : {}),
    onSubscriberError: (err) => log.error({ err }, 'event subscriber failed'),
  })
  log.info({ dbFile: config.dbFile, synchronous: config.synchronous }, 'database ready')
  const scheduler = createTimerScheduler({
    db: core.db,
    store: core.store,
    commands: core.commands,
    clock: core.clock,
    log,
  })
  scheduler.start()
  const app = createApp({ db: core.db, log })
  const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolveServer(s))
    s.once('error', reject)
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
    scheduler,
    address,
    close() {
      closing ??= (async () => {
        await new Promise<void>((r) => server.close(() => r()))
        await scheduler.stop()
        await core.close()
        log.info('Kurir stopped')
      })()
      return closing
    },
  }
}
