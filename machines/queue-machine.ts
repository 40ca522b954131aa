// queueMachine: a session's queue, running or paused, and cooling down after WhatsApp rate-limits it.
import { assign, setup } from 'xstate'
import { msOf } from './backoff.ts'
import type { QueueConfig, QueueEvent } from './queue-events.ts'

/** Bumped whenever a change would fold old events differently; stored in every event's metadata. */
// 2: pacing settings (maxPerMinute, sameChatGapMs, paceSpreadMs) in the config.
export const QUEUE_MACHINE_VERSION = 2

export const defaultQueueConfig: QueueConfig = {
  concurrency: 3,
  maxAttempts: 5,
  backoffBaseMs: 2_000,
  backoffMaxMs: 60_000,
  rateLimitCooldownMs: 60_000,
  sendIntervalMs: 0,
  maxPerMinute: 30,
  sameChatGapMs: 3_000,
  paceSpreadMs: 1_000,
  onInterrupted: 'retry',
}

export interface QueueContext {
  config: QueueConfig
  /** When the cooldown ends (epoch ms), or null. */
  cooldownUntilMs: number | null
  updatedAtMs: number
}

export const initialQueueContext: QueueContext = {
  config: defaultQueueConfig,
  cooldownUntilMs: null,
  updatedAtMs: 0,
}

export const queueMachine = setup({
  types: {} as { context: QueueContext; events: QueueEvent },
  actions: {
    wakeDispatcher: () => {},
    touch: assign({
      updatedAtMs: ({ context, event }) => {
        const at = (event as { at?: unknown }).at
        return typeof at === 'string' ? msOf(at) : context.updatedAtMs
      },
    }),
  },
  delays: {
    cooldown: ({ context }) => context.config.rateLimitCooldownMs,
  },
}).createMachine({
  id: 'queue',
  type: 'parallel',
  context: initialQueueContext,
  states: {
    flow: {
      initial: 'running',
      states: {
        running: {
          on: { QueuePaused: { target: 'paused', actions: 'touch' } },
        },
        paused: {
          on: { QueueResumed: { target: 'running', actions: ['touch', 'wakeDispatcher'] } },
        },
      },
    },
    pace: {
      initial: 'normal',
      states: {
        normal: {
          on: {
            QueueCooldownStarted: {
              target: 'cooling',
              actions: [
                assign({
                  cooldownUntilMs: ({ context, event }) =>
                    msOf(event.at) + context.config.rateLimitCooldownMs,
                }),
                'touch',
              ],
            },
          },
        },
        cooling: {
          after: {
            cooldown: {
              target: 'normal',
              actions: [assign({ cooldownUntilMs: null }), 'touch', 'wakeDispatcher'],
            },
          },
        },
      },
    },
  },
  on: {
    QueueConfigured: {
      actions: [
        assign({ config: ({ context, event }) => ({ ...context.config, ...event.changes }) }),
        'touch',
        'wakeDispatcher',
      ],
    },
    QueueCleared: { actions: 'touch' },
    QueueJobsArchived: { actions: 'touch' },
  },
})

export type QueueMachine = typeof queueMachine
