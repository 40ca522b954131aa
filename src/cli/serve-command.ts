// `kurir serve` / `npm start`: runs the gateway until SIGINT or SIGTERM, then shuts down gracefully.
import QRCode from 'qrcode'
import { loadConfig } from '../config.ts'
import { createLogger, stdoutDestination } from '../logger.ts'
import { startGateway } from '../main.ts'
import type { Io } from './main.ts'

/** The QR to scan, drawn in the terminal beside the log (the JSON log itself never holds it). */
const qrPrinter = (io: Io) => (sessionId: string, qr: string) => {
  QRCode.toString(qr, { type: 'terminal', small: true }).then(
    (drawn) => io.err(`Scan this QR with WhatsApp on the phone (session ${sessionId}):\n${drawn}`),
    () => {},
  )
}

export const serveCommand = async (_args: string[], io: Io): Promise<number> => {
  const config = loadConfig(io.env)
  const log = createLogger(config.logLevel, stdoutDestination())
  const gateway = await startGateway({ config, log, onQr: qrPrinter(io) })
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down')
      gateway.close().then(
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
