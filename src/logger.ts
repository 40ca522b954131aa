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
