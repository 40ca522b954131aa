// Structured JSON logs (pino). Secrets and message bodies are redacted wherever they appear.
import { pino } from 'pino'

export type Logger = pino.Logger

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'refreshToken',
  '*.refreshToken',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'body',
  '*.body',
  'message',
  'qr',
  '*.qr',
]

export const createLogger = (level: string, destination?: pino.DestinationStream): Logger =>
  pino(
    { level, base: { service: 'kurir' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    destination,
  )

/**
 * Standard output, written in batches: lines collect until 4 KiB or 200 ms, whichever comes first, so a
 * busy server makes one write for many lines instead of one each. Whatever is buffered is written out
 * at exit.
 */
export const stdoutDestination = (): pino.DestinationStream =>
  pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 })

/**
 * The same destination without redaction, for lines whose fields are fixed and known to carry no secret
 * (the HTTP access line): redaction costs about as much as the rest of writing a line.
 */
export const unredacted = (log: Logger): Logger => log.child({}, { redact: [] })
