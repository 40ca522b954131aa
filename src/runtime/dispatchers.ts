// A dispatcher per session, woken by what is committed: a new or due job, a session becoming ready, a
// queue resumed, cooled down or reconfigured, a send finishing. No fixed polling loop.
import type { Clock } from '../clock.ts'
import type { CommandHandler } from '../core/command-handler.ts'
import type { WhatsAppEngine } from '../engines/engine.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'
import type { SendMetrics } from '../metrics.ts'
import { createDispatcher, type Dispatcher } from './dispatcher.ts'
import type { RuntimeLog } from './session-actor.ts'

export interface DispatchersDeps {
  db: Db
  store: EventStore
  commands: CommandHandler
  readyEngine: (sessionId: string) => WhatsAppEngine | null
  clock: Clock
  log: RuntimeLog
  random?: () => number
  metrics?: SendMetrics
}

/**
 * @example
 * const dispatchers = createDispatchers({ db, store, commands, readyEngine: sessions.readyEngine, clock, log })
 * await dispatchers.boot()
 */
export const createDispatchers = (deps: DispatchersDeps) => {
  const bySession = new Map<string, Dispatcher>()
  const sessionIds = deps.db.prepare("SELECT id FROM sessions WHERE state <> 'deleted'").pluck()

  const of = (sessionId: string): Dispatcher => {
    let d = bySession.get(sessionId)
    if (!d) {
      d = createDispatcher({
        sessionId,
        db: deps.db,
        commands: deps.commands,
        readyEngine: () => deps.readyEngine(sessionId),
        clock: deps.clock,
        log: deps.log,
        ...(deps.random ? { random: deps.random } : {}),
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
      })
      bySession.set(sessionId, d)
    }
    return d
  }

  const onCommit = (events: StoredEvent[]) => {
    const woken = new Set<string>()
    let anyJob = false
    for (const e of events) {
      if (e.streamType === 'job') {
        const sessionId = (e.data as { sessionId?: unknown }).sessionId
        if (e.type === 'JobQueued' && typeof sessionId === 'string') woken.add(sessionId)
        else anyJob = true
      } else if (e.streamType === 'queue') {
        woken.add(e.streamId.slice('queue-'.length))
      } else if (e.streamType === 'session' && e.type === 'SessionReady') {
        woken.add(e.streamId.slice('session-'.length))
      }
    }
    for (const id of woken) of(id).wake()
    // A job that became due again: its session's dispatcher looks (the others find nothing new).
    if (anyJob) for (const [id, d] of bySession) if (!woken.has(id)) d.wake()
  }

  let unsubscribe: (() => void) | null = null

  return {
    of,
    /** Follows commits; interrupted attempts of every session are settled first. */
    async boot(): Promise<void> {
      for (const id of sessionIds.all() as string[]) {
        const n = await of(id).recoverInterrupted()
        if (n > 0) deps.log.warn({ sessionId: id, jobs: n }, 'attempts interrupted by the last stop')
      }
      unsubscribe = deps.store.subscribe(onCommit)
      for (const d of bySession.values()) d.wake()
    },
    /** Takes no new job from now on; sends in flight go on until their engine answers or stops. */
    close(): void {
      unsubscribe?.()
      for (const d of bySession.values()) d.close()
    },
    /** Resolves once every send in flight has been recorded. */
    async drained(): Promise<void> {
      await Promise.all([...bySession.values()].map((d) => d.drained()))
    },
  }
}

export type Dispatchers = ReturnType<typeof createDispatchers>
