// A session's queue as its projection row has it: paused, cooling down until, its config with the
// defaults filled in, and how many jobs are in each status. A queue never written to has the defaults.
import type { QueueConfig } from '../../machines/queue-events.ts'
import { defaultQueueConfig } from '../../machines/queue-machine.ts'
import type { Db } from '../eventlog/database.ts'
import { JOB_STATUSES, type JobStatusName as JobStatus } from './rows.ts'

export interface QueueState {
  paused: boolean
  /** ISO time the rate-limit cooldown ends, or null. */
  cooldownUntil: string | null
  config: QueueConfig
  counts: Record<JobStatus, number>
}

type QueueRow = Record<JobStatus, number> & { paused: number; cooldown_until: string | null; config: string }

/** A config text parsed, the defaults filled in; the last parse is kept until the text changes. */
const parsedConfig = () => {
  let lastText: string | null = null
  let lastConfig: QueueConfig = defaultQueueConfig
  return (text: string | undefined): QueueConfig => {
    if (text === undefined) return { ...defaultQueueConfig }
    if (text !== lastText) {
      lastConfig = { ...defaultQueueConfig, ...(JSON.parse(text) as Partial<QueueConfig>) }
      lastText = text
    }
    return { ...lastConfig }
  }
}

/**
 * A session's queue config alone, with the defaults filled in: what a new job copies its retry settings
 * from. The parse of the config text is kept until the text changes (each caller gets its own copy).
 *
 * @example
 * queueConfigReader(db)('default').maxAttempts // 5 unless configured
 */
export const queueConfigReader = (db: Db) => {
  const text = db.prepare('SELECT config FROM queues WHERE session_id = ?').pluck()
  const configOf = parsedConfig()
  return (sessionId: string): QueueConfig => configOf(text.get(sessionId) as string | undefined)
}

/**
 * @example
 * const queueOf = queueStateReader(db)
 * queueOf('default').config.concurrency // 3 unless configured
 */
export const queueStateReader = (db: Db) => {
  const row = db.prepare(
    `SELECT paused, cooldown_until, config, ${JOB_STATUSES.join(', ')} FROM queues WHERE session_id = ?`,
  )
  // The dispatcher reads its queue on every look; the config text rarely changes.
  const configOf = parsedConfig()
  return (sessionId: string): QueueState => {
    const r = row.get(sessionId) as QueueRow | undefined
    return {
      paused: r?.paused === 1,
      cooldownUntil: r?.cooldown_until ?? null,
      config: configOf(r?.config),
      counts: Object.fromEntries(JOB_STATUSES.map((s) => [s, r?.[s] ?? 0])) as Record<JobStatus, number>,
    }
  }
}
