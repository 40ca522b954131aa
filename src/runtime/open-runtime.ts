// The live part of a gateway over an open core: the timer scheduler, a session manager over the engines,
// and a dispatcher per session, closed in the order that loses nothing.

import type { SessionConfig } from '../../machines/session-events.ts'
import type { Clock } from '../clock.ts'
import type { Core } from '../core/open-core.ts'
import type { EngineFactory } from '../engines/engine.ts'
import type { SendMetrics } from '../metrics.ts'
import { createDispatchers } from './dispatchers.ts'
import type { RuntimeLog } from './session-actor.ts'
import { createSessionManager } from './session-manager.ts'
import { createTimerScheduler } from './timer-scheduler.ts'

export interface RuntimeDeps {
  core: Pick<Core, 'db' | 'store' | 'commands' | 'clock'>
  engines: EngineFactory
  log: RuntimeLog
  random?: () => number
  /** Settings for sessions created without their own. */
  defaults?: Partial<SessionConfig>
  onQr?: (sessionId: string, qr: string) => void
  metrics?: SendMetrics
  /**
   * At close, how long sends under way may take to finish before their engines are stopped (default
   * 10 s); a send cut off then fails, retryably.
   */
  sendGraceMs?: number
}

/** How long a closing runtime lets the sends under way finish. */
export const SEND_GRACE_MS = 10_000

/** Resolves when the promise settles or after `ms` on the clock, whichever comes first. */
const atMost = (clock: Clock, promise: Promise<void>, ms: number): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = clock.setTimer(resolve, ms)
    const done = () => {
      timer.cancel()
      resolve()
    }
    promise.then(done, done)
  })

/**
 * The parts are made and the scheduler runs; the caller boots sessions and dispatchers when it wants
 * them to act (a gateway at once, a test when it has set the scene).
 *
 * @example
 * const runtime = openRuntime({ core, engines, log })
 * await runtime.sessions.boot()
 * await runtime.dispatchers.boot()
 */
export const openRuntime = ({
  core,
  engines,
  log,
  random,
  defaults,
  onQr,
  metrics,
  sendGraceMs = SEND_GRACE_MS,
}: RuntimeDeps) => {
  const { db, store, commands, clock } = core
  const scheduler = createTimerScheduler({ db, store, commands, clock, log })
  scheduler.start()
  const sessions = createSessionManager({
    db,
    store,
    commands,
    engines,
    clock,
    log,
    ...(random ? { random } : {}),
    ...(defaults ? { defaults } : {}),
    ...(onQr ? { onQr } : {}),
  })
  const dispatchers = createDispatchers({
    db,
    store,
    commands,
    readyEngine: sessions.readyEngine,
    clock,
    log,
    ...(random ? { random } : {}),
    ...(metrics ? { metrics } : {}),
  })
  return {
    scheduler,
    sessions,
    dispatchers,
    /**
     * No timer fires and no new send starts; the sends under way finish (within `sendGraceMs`); then
     * every engine stops (no browser outlives the runtime, and a send still in flight fails, retryably).
     * The outcome of every send is recorded before this resolves.
     */
    async close(): Promise<void> {
      await scheduler.stop()
      dispatchers.close()
      await atMost(clock, dispatchers.drained(), sendGraceMs)
      await sessions.close()
      await dispatchers.drained()
    },
  }
}

export type Runtime = ReturnType<typeof openRuntime>
