// Structured logs (pino): JSON lines, or readable lines on a terminal. Secrets and message bodies are
// redacted wherever they appear, in either form.
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

export type LogFormat = 'json' | 'pretty'

/**
 * JSON lines for machines, readable lines for a person: pretty when standard output is a terminal,
 * unless LOG_FORMAT says otherwise.
 *
 * @example
 * chooseLogFormat(undefined, process.stdout.isTTY === true) // 'pretty' in a terminal, 'json' in a pipe
 */
export const chooseLogFormat = (requested: LogFormat | undefined, isTerminal: boolean): LogFormat =>
  requested ?? (isTerminal ? 'pretty' : 'json')

/**
 * Readable lines (pino-pretty) on `destination` (standard output by default). Redaction has happened
 * before a line gets here: pino redacts when it serialises, whatever the destination.
 */
export const prettyDestination = async (
  destination: number | NodeJS.WritableStream = 1,
): Promise<pino.DestinationStream> => {
  const { default: pretty } = await import('pino-pretty')
  return pretty({
    destination,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
  })
}

/**
 * Where `kurir serve` writes its log: the batched JSON destination, or pretty lines on a terminal
 * (pino-pretty is loaded only then).
 *
 * @example
 * const log = createLogger(config.logLevel, await logDestination(config.logFormat))
 */
export const logDestination = async (
  requested: LogFormat | undefined,
  stdout: { isTTY?: boolean } = process.stdout,
): Promise<pino.DestinationStream> =>
  chooseLogFormat(requested, stdout.isTTY === true) === 'pretty' ? prettyDestination() : stdoutDestination()

/**
 * The same destination without redaction, for lines whose fields are fixed and known to carry no secret
 * (the HTTP access line): redaction costs about as much as the rest of writing a line.
 */
export const unredacted = (log: Logger): Logger => log.child({}, { redact: [] })
