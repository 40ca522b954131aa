// `kurir serve` / `npm start`: runs the gateway until SIGINT or SIGTERM, then shuts down gracefully.
import QRCode from 'qrcode'
import type { Config } from '../config.ts'
import { loadConfig } from '../config.ts'
import { streamIds } from '../core/aggregates.ts'
import { guardLibraryRejections } from '../engines/wwebjs-guard.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import { createLogger, type Logger, logDestination } from '../logger.ts'
import { startGateway } from '../main.ts'
import type { LiveInspector } from '../runtime/live-inspector.ts'
import type { Io } from './main.ts'

/**
 * The QR to scan, drawn in the terminal beside the log; never into a pipe or a file (a log collector),
 * unless QR_TERMINAL=1 asks. The JSON log itself never holds it.
 */
const qrPrinter = (io: Io, config: Pick<Config, 'qrTerminal'>) => {
  if (!(config.qrTerminal ?? io.errIsTerminal === true)) return undefined
  return (sessionId: string, qr: string) => {
    QRCode.toString(qr, { type: 'terminal', small: true }).then(
      (drawn) => io.err(`Scan this QR with WhatsApp on the phone (session ${sessionId}):\n${drawn}`),
      () => {},
    )
  }
}

/**
 * INSPECT=1: the live machines go to the XState inspector. Otherwise nothing of it is loaded. The
 * gateway runs on without it when it cannot start (its port taken, say).
 */
export const startInspectorIfAsked = async (
  config: Pick<Config, 'inspect' | 'inspectPort'>,
  gateway: { core: { store: EventStore }; sessions: { ids(): string[] } },
  log: Logger,
): Promise<LiveInspector | null> => {
  if (!config.inspect) return null
  const { startLiveInspector } = await import('../runtime/live-inspector.ts')
  try {
    return await startLiveInspector({
      store: gateway.core.store,
      port: config.inspectPort,
      log,
      streams: gateway.sessions.ids().flatMap((id) => [streamIds.session(id), streamIds.queue(id)]),
    })
  } catch (err) {
    log.error({ err }, 'the inspector could not start; the gateway runs without it')
    return null
  }
}

export const serveCommand = async (_args: string[], io: Io): Promise<number> => {
  const config = loadConfig(io.env)
  const log = createLogger(config.logLevel, await logDestination(config.logFormat))
  const onQr = qrPrinter(io, config)
  if (config.engine === 'wwebjs') {
    guardLibraryRejections((err) =>
      log.warn({ err }, 'whatsapp-web.js failed in the background; the session hears of it from its engine'),
    )
  }
  const gateway = await startGateway({ config, log, ...(onQr ? { onQr } : {}) })
  const inspector = await startInspectorIfAsked(config, gateway, log)
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down')
      Promise.resolve(inspector?.close())
        .then(() => gateway.close())
        .then(
          () => {
            log.flush()
            resolve(0)
          },
          (err) => {
            log.error({ err }, 'shutdown failed')
            resolve(1)
          },
        )
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}
