// Renders the event catalogue (every event type with its fields) as Markdown from the schemas, so the
// README's catalogue is checked against the code rather than kept by hand.
import { z } from 'zod'
import { jobEventSchemas, queueEventSchemas, sessionEventSchemas } from './event-schemas.ts'

const descriptions: Record<string, string> = {
  JobQueued: 'A message was accepted for sending (waits in `delayed` when `sendAt` is later).',
  JobAttemptStarted: 'The dispatcher began attempt number `attempt`; written before the engine is called.',
  JobSent: 'WhatsApp accepted the message.',
  JobAttemptFailed:
    'The attempt failed; retryable errors back off (delay from `jitter`), others fail the job.',
  JobRateLimited: 'WhatsApp rate-limited the send; the attempt is given back.',
  JobAttemptWithdrawn:
    'The session stopped being ready before the engine was called; the attempt is given back.',
  JobAttemptInterrupted: 'The process stopped during the attempt; retried or failed as configured.',
  JobDue: 'The persisted timer of a backoff or scheduled send fired.',
  JobCancelled: 'The job was cancelled while waiting or delayed.',
  JobRetryRequested: 'An operator asked to retry a failed job.',
  SessionCreated: 'A WhatsApp session was created with its timing configuration.',
  SessionConfigured: 'Part of the session configuration changed.',
  SessionStartRequested: 'An operator (or start-up) asked the session to start.',
  SessionStopRequested: 'An operator stopped the session.',
  SessionResetRequested: 'An operator asked to log out, remove the auth and start again with a new QR.',
  SessionLogoutRequested: 'An operator logged the session out.',
  SessionDeleted: 'An operator deleted the session: its engine stops and its stored login is discarded.',
  SessionResumed: 'The process started again while the session was live; a new engine starts.',
  SessionQrIssued: 'The engine showed a QR (the QR itself is a secret and is not stored).',
  SessionAuthenticated: 'The phone scanned the QR, or stored auth was accepted.',
  SessionReady: 'The session is linked and can send.',
  SessionProbeSucceeded: 'A keepalive probe answered.',
  SessionProbeFailed: 'A keepalive probe failed.',
  SessionDisconnected: 'The connection dropped; `LOGOUT` means the phone unlinked Kurir.',
  SessionStartFailed: 'The engine could not start (for example, no network).',
  SessionAuthFailed: 'Stored auth was refused; a new QR is needed.',
  SessionEngineStopped: 'After a timeout the engine was torn down; the restart backoff begins.',
  SessionQrExpired: 'Timer: no one scanned the QR in time.',
  SessionAuthTimedOut: 'Timer: authentication did not finish in time.',
  SessionStartTimedOut: 'Timer: the engine did not start in time.',
  SessionKeepaliveDue: 'Timer: time for the next keepalive probe.',
  SessionProbeTimedOut: 'Timer: the keepalive probe did not answer in time.',
  SessionRestartDue: 'Timer: the restart backoff is over; start again.',
  QueueConfigured: 'Part of the queue configuration changed (applied live).',
  QueuePaused: 'The queue was paused: nothing new is sent.',
  QueueResumed: 'The queue was resumed.',
  QueueCleared: 'Waiting and delayed jobs were cancelled; active ones finish.',
  QueueJobsArchived:
    'Finished jobs were written to an archive file and their streams removed from the live log (retention).',
  QueueCooldownStarted: 'WhatsApp rate-limited the session; the queue rests for `rateLimitCooldownMs`.',
  QueueCooldownEnded: 'Timer: the cooldown is over.',
}

type JsonSchema = {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  format?: string
  properties?: Record<string, JsonSchema>
}

const typeOf = (s: JsonSchema): string => {
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ')
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ')
  if (s.format === 'date-time') return 'ISO time'
  if (s.type === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any')
}

const section = (title: string, stream: string, schemas: Record<string, z.ZodObject>): string[] => [
  `### ${title} — stream \`${stream}\``,
  '',
  '| event | fields | meaning |',
  '| --- | --- | --- |',
  ...Object.entries(schemas).map(([type, schema]) => {
    const json = z.toJSONSchema(schema, { io: 'input' }) as JsonSchema
    const fields = Object.entries(json.properties ?? {})
      .map(([name, s]) => `\`${name}\`: ${typeOf(s)}`)
      .join(', ')
    return `| \`${type}\` | ${fields} | ${descriptions[type] ?? ''} |`
  }),
  '',
]

export const renderEventCatalogue = (): string =>
  [
    ...section('Jobs', 'job-<ulid>', jobEventSchemas),
    ...section('Sessions', 'session-<id>', sessionEventSchemas),
    ...section('Queues', 'queue-<sessionId>', queueEventSchemas),
  ].join('\n')

export const eventDescriptions = descriptions
