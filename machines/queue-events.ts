// The facts of a session's queue stream (`queue-<sessionId>`).

export interface QueueConfig {
  /** Sends in flight at once for this session. */
  concurrency: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  /** How long the queue rests after WhatsApp rate-limits a send. */
  rateLimitCooldownMs: number
  /** Minimum gap between two sends of this session (pacing; 0: none). */
  sendIntervalMs: number
  /** At most this many sends start in any minute (pacing against bans; 0: no limit). */
  maxPerMinute: number
  /** Minimum gap between two messages to the same chat (0: none). */
  sameChatGapMs: number
  /** Up to this much random time is added to every pacing wait, so that sends do not tick like a clock. */
  paceSpreadMs: number
  /** What happens to a job found `active` when the process starts again. */
  onInterrupted: 'retry' | 'fail'
}

export type QueueConfigured = { type: 'QueueConfigured'; changes: Partial<QueueConfig>; at: string }
export type QueuePaused = { type: 'QueuePaused'; at: string }
export type QueueResumed = { type: 'QueueResumed'; at: string }
/** Waiting and delayed jobs were cancelled (each in its own stream); active ones finish. */
export type QueueCleared = { type: 'QueueCleared'; cancelled: number; at: string }
/** Finished jobs' streams were archived to `file` and removed from the live log (retention). */
export type QueueJobsArchived = {
  type: 'QueueJobsArchived'
  jobs: number
  events: number
  finishedBefore: string
  file: string
  at: string
}
export type QueueCooldownStarted = { type: 'QueueCooldownStarted'; reason: string; at: string }
/** The persisted cooldown timer fired. */
export type QueueCooldownEnded = { type: 'QueueCooldownEnded'; timer: 'cooldown'; dueAt: string; at: string }

export type QueueEvent =
  | QueueConfigured
  | QueuePaused
  | QueueResumed
  | QueueCleared
  | QueueJobsArchived
  | QueueCooldownStarted
  | QueueCooldownEnded

export type QueueEventType = QueueEvent['type']

/** Every queue event type, checked complete by the compiler. */
export const QUEUE_EVENT_TYPES = Object.keys({
  QueueConfigured: true,
  QueuePaused: true,
  QueueResumed: true,
  QueueCleared: true,
  QueueJobsArchived: true,
  QueueCooldownStarted: true,
  QueueCooldownEnded: true,
} satisfies Record<QueueEventType, true>) as QueueEventType[]
