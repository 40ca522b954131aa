// The read-model rows of one stream's snapshot, as plain values in column order. Pure: used by the live
// projector inside the append's transaction and by rebuild workers, which send rows, not snapshots.
import { parseIsoMs } from '../../machines/instant.ts'
import { initialJobContext, type JobContext } from '../../machines/job-machine.ts'
import { initialQueueContext, type QueueContext } from '../../machines/queue-machine.ts'
import { initialSessionContext, type SessionContext } from '../../machines/session-machine.ts'
import { LAST_FOUR_DIGIT_YEAR_MS, toIso } from '../clock.ts'
import type { Aggregate, StreamType } from '../core/aggregates.ts'
import { entityIdOf } from '../core/aggregates.ts'
import type { Snapshot } from '../core/fold.ts'

export interface TimerRow {
  timerId: string
  delay: string
  factType: string
  dueMs: number
  armedVersion: number
}

/** Every stream's row keeps its machine snapshot in these columns, in this order. */
const SNAPSHOT_COLUMNS = ['version', 'machine_version', 'machine_state', 'context'] as const

export const JOB_COLUMNS = [
  'id',
  'session_id',
  'status',
  'priority',
  'priority_rank',
  'chat_id',
  'body',
  'attempts',
  'max_attempts',
  'last_error',
  'next_attempt_at',
  'send_at',
  'message_id',
  'idempotency_key',
  'duplicate_risk',
  ...SNAPSHOT_COLUMNS,
  'created_at',
  'updated_at',
] as const

export const SESSION_COLUMNS = [
  'id',
  'state',
  'since',
  'last_error',
  'consecutive_failures',
  'restarts',
  'phone_number',
  ...SNAPSHOT_COLUMNS,
  'created_at',
  'updated_at',
] as const

/** The columns a queue's own stream decides; the job counts are kept apart. */
export const QUEUE_COLUMNS = [
  'session_id',
  'paused',
  'cooldown_until',
  'config',
  ...SNAPSHOT_COLUMNS,
  'updated_at',
] as const

export const TIMER_COLUMNS = [
  'stream_id',
  'timer_id',
  'delay',
  'fact_type',
  'due_at',
  'due_ms',
  'armed_version',
] as const

/**
 * Context fields a table already keeps, unchanged, in a column of its own (context field → column). The
 * `context` column leaves them out — a message body is stored once — and loading a snapshot puts them
 * back from their columns.
 */
const CONTEXT_IN_COLUMNS: Record<StreamType, Readonly<Record<string, string>>> = {
  job: {
    jobId: 'id',
    sessionId: 'session_id',
    chatId: 'chat_id',
    body: 'body',
    priority: 'priority',
    attempts: 'attempts',
    maxAttempts: 'max_attempts',
    messageId: 'message_id',
    idempotencyKey: 'idempotency_key',
  },
  session: {
    sessionId: 'id',
    consecutiveFailures: 'consecutive_failures',
    restarts: 'restarts',
    phoneNumber: 'phone_number',
  },
  queue: {},
}

/** Epoch-ms fields a table keeps as an ISO column (context field → column); null stays null. */
const INSTANTS_IN_COLUMNS: Record<StreamType, Readonly<Record<string, string>>> = {
  job: {
    nextAttemptAtMs: 'next_attempt_at',
    sendAtMs: 'send_at',
    createdAtMs: 'created_at',
    updatedAtMs: 'updated_at',
  },
  session: { sinceMs: 'since', createdAtMs: 'created_at', updatedAtMs: 'updated_at' },
  queue: { updatedAtMs: 'updated_at' },
}

/** Every column loading a snapshot reads besides the machine's own four. */
export const contextColumns = (streamType: StreamType): string[] => [
  ...Object.values(CONTEXT_IN_COLUMNS[streamType]),
  ...Object.values(INSTANTS_IN_COLUMNS[streamType]),
]

const INITIAL_CONTEXT: Record<StreamType, Readonly<Record<string, unknown>>> = {
  job: initialJobContext as unknown as Record<string, unknown>,
  session: initialSessionContext as unknown as Record<string, unknown>,
  queue: initialQueueContext as unknown as Record<string, unknown>,
}

/** An instant its ISO column gives back exactly. */
const isExactInstant = (v: unknown): boolean =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= LAST_FOUR_DIGIT_YEAR_MS

/**
 * The context as the `context` column stores it: without the fields kept in columns and without the
 * primitive fields still at the machine's initial value. Most jobs store `{}`.
 */
const storedContext = (streamType: StreamType, context: object): string => {
  const inColumns = CONTEXT_IN_COLUMNS[streamType]
  const instants = INSTANTS_IN_COLUMNS[streamType]
  const initial = INITIAL_CONTEXT[streamType]
  const c = context as Record<string, unknown>
  let json = ''
  for (const key in c) {
    const v = c[key]
    if (key in inColumns || (key in instants && isExactInstant(v))) continue
    if (v === initial[key]) continue
    const text = JSON.stringify(v)
    if (text === undefined) continue
    json += `${json === '' ? '' : ','}${JSON.stringify(key)}:${text}`
  }
  return `{${json}}`
}

/**
 * The whole context again: the machine's initial context, the instants from their ISO columns, the
 * `context` column, and the fields kept in columns.
 */
export const contextOfRow = (
  streamType: StreamType,
  row: Record<string, unknown>,
): Record<string, unknown> => {
  const context: Record<string, unknown> = { ...INITIAL_CONTEXT[streamType] }
  for (const [key, column] of Object.entries(INSTANTS_IN_COLUMNS[streamType])) {
    const iso = row[column]
    context[key] = typeof iso === 'string' ? parseIsoMs(iso) : null
  }
  Object.assign(context, JSON.parse(row['context'] as string))
  for (const [key, column] of Object.entries(CONTEXT_IN_COLUMNS[streamType])) context[key] = row[column]
  return context
}

/**
 * Columns a stream's row takes when it is made and, as the machines stand, keeps (column → the context
 * field it comes from). A later change that leaves these fields as they were writes the other columns
 * only, so the indexes over these columns (a job's by session, by idempotency key) are not rewritten.
 */
export const SET_ONCE: Record<StreamType, Readonly<Record<string, string>>> = {
  job: {
    session_id: 'sessionId',
    priority: 'priority',
    priority_rank: 'priority',
    chat_id: 'chatId',
    body: 'body',
    idempotency_key: 'idempotencyKey',
    created_at: 'createdAtMs',
  },
  session: { created_at: 'createdAtMs' },
  queue: {},
}

export const TABLE_OF: Record<StreamType, { table: string; key: string; columns: readonly string[] }> = {
  job: { table: 'jobs', key: 'id', columns: JOB_COLUMNS },
  session: { table: 'sessions', key: 'id', columns: SESSION_COLUMNS },
  queue: { table: 'queues', key: 'session_id', columns: QUEUE_COLUMNS },
}

export const JOB_STATUSES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled'] as const
export type JobStatusName = (typeof JOB_STATUSES)[number]
export const isJobStatus = (s: string): s is JobStatusName => (JOB_STATUSES as readonly string[]).includes(s)

export const PRIORITY_RANK = { high: 0, normal: 1, low: 2 } as const

export type SqlValue = string | number | null

/** The top-level state: `ready` for `{ ready: 'probing' }`. */
export const topState = (snapshot: Snapshot): string => {
  const v = snapshot.value
  return typeof v === 'string' ? v : (Object.keys(v as object)[0] ?? '')
}

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : toIso(ms))
const jsonOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v))

/**
 * The row of a stream's table for its snapshot, in the order of that table's columns.
 *
 * @example
 * const values = rowOf(aggregates.job, 'job-01H…', 3, snapshot) // JOB_COLUMNS order
 */
export const rowOf = (
  aggregate: Aggregate,
  streamId: string,
  version: number,
  snapshot: Snapshot,
): SqlValue[] => {
  const machine: SqlValue[] = [
    version,
    aggregate.machineVersion,
    JSON.stringify(snapshot.value),
    storedContext(aggregate.streamType, snapshot.context as object),
  ]
  switch (aggregate.streamType) {
    case 'job': {
      const c = snapshot.context as JobContext
      return [
        c.jobId,
        c.sessionId,
        topState(snapshot),
        c.priority,
        PRIORITY_RANK[c.priority],
        c.chatId,
        c.body,
        c.attempts,
        c.maxAttempts,
        jsonOrNull(c.lastError),
        isoOrNull(c.nextAttemptAtMs),
        isoOrNull(c.sendAtMs),
        c.messageId,
        c.idempotencyKey,
        c.duplicateRisk ? 1 : 0,
        ...machine,
        toIso(c.createdAtMs),
        toIso(c.updatedAtMs),
      ]
    }
    case 'session': {
      const c = snapshot.context as SessionContext
      return [
        c.sessionId,
        topState(snapshot),
        toIso(c.sinceMs),
        jsonOrNull(c.lastError),
        c.consecutiveFailures,
        c.restarts,
        c.phoneNumber,
        ...machine,
        toIso(c.createdAtMs),
        toIso(c.updatedAtMs),
      ]
    }
    case 'queue': {
      const c = snapshot.context as QueueContext
      const paused = (snapshot.value as { flow?: string }).flow === 'paused' ? 1 : 0
      return [
        entityIdOf(streamId),
        paused,
        isoOrNull(c.cooldownUntilMs),
        JSON.stringify(c.config),
        ...machine,
        toIso(c.updatedAtMs),
      ]
    }
  }
}

export const timerValues = (streamId: string, t: TimerRow): SqlValue[] => [
  streamId,
  t.timerId,
  t.delay,
  t.factType,
  toIso(t.dueMs),
  t.dueMs,
  t.armedVersion,
]
