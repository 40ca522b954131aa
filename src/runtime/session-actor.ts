// One live session: it follows the session's stream as it is committed, performs the effects the machine
// asked for (start, stop, probe, log out the engine) one after another, and turns what the engine reports
// into facts on the stream.
import type { Clock } from '../clock.ts'
import { aggregates, streamIds } from '../core/aggregates.ts'
import type { CommandHandler, Fact } from '../core/command-handler.ts'
import { type Effect, type Snapshot, stateLabel } from '../core/fold.ts'
import { CONNECTED, type EngineEvent, type EngineFactory, type WhatsAppEngine } from '../engines/engine.ts'
import { IllegalStateError } from '../errors.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'

export interface RuntimeLog {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface SessionActorDeps {
  sessionId: string
  store: EventStore
  commands: CommandHandler
  engines: EngineFactory
  clock: Clock
  log: RuntimeLog
  /** Jitter samples in [0, 1) for restart backoff (decided here, stored in the event). */
  random?: () => number
  /** Hears each QR as it is issued (the terminal printout at `kurir serve`). */
  onQr?: (sessionId: string, qr: string) => void
}

export interface CurrentQr {
  qr: string
  issuedAtMs: number
}

const agg = aggregates.session

/** The top-level state of a session snapshot: `ready.probing` → `ready`, a new stream → `initial`. */
export const sessionStateOf = (snapshot: Snapshot): string =>
  stateLabel(snapshot.value).split('.')[0] || 'initial'

const errorOf = (err: unknown, fallback: string) => ({
  code: typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : fallback,
  message: err instanceof Error ? err.message : String(err),
})

/**
 * @example
 * const actor = createSessionActor({ sessionId: 'default', store, commands, engines, clock, log })
 * actor.start()
 * await actor.settled()
 */
export const createSessionActor = (deps: SessionActorDeps) => {
  const { sessionId, store, commands, engines, clock, log } = deps
  const random = deps.random ?? Math.random
  const streamId = streamIds.session(sessionId)
  let snapshot: Snapshot = agg.folder.initial
  let version = 0
  let engine: WhatsAppEngine | null = null
  /**
   * The engine that reported its connection gone. Its session is `ready` in the log until the fact is
   * committed; no send is handed to it in the meantime.
   */
  let lost: WhatsAppEngine | null = null
  let detach: (() => void) | null = null
  let qr: CurrentQr | null = null
  let unsubscribe: (() => void) | null = null
  let closed = false
  // Effects run one after another, so a stop always finishes before the next start: never two engines.
  let effects: Promise<void> = Promise.resolve()
  // Facts from the engine are appended in the order the engine reported them.
  let reports: Promise<void> = Promise.resolve()
  const probes = new Set<Promise<void>>()

  const at = () => new Date(clock.now()).toISOString()

  /** Appends a fact unless the machine has moved on (a late report from an engine that is gone). */
  const report = (type: string, data: Record<string, unknown>, cause: string) => {
    const fact: Fact = { type, data: { ...data, at: at() } as Fact['data'] }
    reports = reports.then(async () => {
      if (closed) return
      try {
        await commands.execute(streamId, () => [fact], { actor: `session:${sessionId}`, causationId: cause })
      } catch (err) {
        if (err instanceof IllegalStateError) {
          log.debug({ sessionId, fact: type }, 'session fact no longer applies')
        } else {
          log.error({ err, sessionId, fact: type }, 'session fact could not be recorded')
        }
      }
    })
    return reports
  }

  const onEngineEvent = (from: WhatsAppEngine, event: EngineEvent) => {
    if (from !== engine || closed) return
    switch (event.type) {
      case 'qr':
        qr = { qr: event.qr, issuedAtMs: clock.now() }
        log.info({ sessionId }, 'QR issued; scan it with WhatsApp on the phone')
        deps.onQr?.(sessionId, event.qr)
        void report('SessionQrIssued', {}, 'engine:qr')
        return
      case 'authenticated':
        qr = null
        void report('SessionAuthenticated', {}, 'engine:authenticated')
        return
      case 'auth_failure':
        qr = null
        void report(
          'SessionAuthFailed',
          { error: { code: 'AUTH_FAILURE', message: event.message } },
          'engine:auth_failure',
        )
        return
      case 'ready':
        qr = null
        log.info({ sessionId, phoneNumber: event.phoneNumber }, 'WhatsApp session ready')
        void report('SessionReady', { phoneNumber: event.phoneNumber }, 'engine:ready')
        return
      case 'disconnected':
        lost = from
        log.warn({ sessionId, reason: event.reason }, 'WhatsApp session disconnected')
        void report('SessionDisconnected', { reason: event.reason, jitter: random() }, 'engine:disconnected')
        return
      default:
        log.debug({ sessionId, event: event.type }, 'engine event')
    }
  }

  /** Stops hearing the current engine and forgets it (and its QR); answers it for the caller to end. */
  const releaseEngine = (): WhatsAppEngine | null => {
    const running = engine
    engine = null
    qr = null
    detach?.()
    detach = null
    return running
  }

  const stopEngine = async () => {
    const running = releaseEngine()
    if (running) {
      try {
        await running.stop()
      } catch (err) {
        log.error({ err, sessionId }, 'engine did not stop cleanly')
      }
    }
  }

  const startEngine = async () => {
    await stopEngine()
    if (closed) return
    const next = engines.create(sessionId)
    engine = next
    detach = next.on((event) => onEngineEvent(next, event))
    // Not awaited here: a start can take as long as WhatsApp Web takes to load, and a stop or a reset
    // must be able to interrupt it.
    next.start().catch((err: unknown) => {
      if (engine !== next || closed) return
      log.warn({ sessionId, err: errorOf(err, 'START_FAILED') }, 'engine could not start')
      void report(
        'SessionStartFailed',
        { error: errorOf(err, 'START_FAILED'), jitter: random() },
        'engine:start',
      )
    })
  }

  const probe = () => {
    const target = engine
    const done = (async () => {
      if (!target) {
        await report(
          'SessionProbeFailed',
          { error: { code: 'NO_ENGINE', message: 'no engine runs' } },
          'probe',
        )
        return
      }
      try {
        const state = await target.getState()
        if (target !== engine) return
        if (state === CONNECTED) await report('SessionProbeSucceeded', { engineState: state }, 'probe')
        else {
          await report(
            'SessionProbeFailed',
            { error: { code: 'NOT_CONNECTED', message: `the engine's state is ${state ?? 'unknown'}` } },
            'probe',
          )
        }
      } catch (err) {
        if (target === engine)
          await report('SessionProbeFailed', { error: errorOf(err, 'PROBE_FAILED') }, 'probe')
      }
    })()
    // A probe that never answers is the probe timeout's business; it must not hold up other effects.
    probes.add(done)
    void done.finally(() => probes.delete(done))
  }

  const perform = async (effect: Effect) => {
    switch (effect.type) {
      case 'startEngine':
        await startEngine()
        return
      case 'stopEngine':
        await stopEngine()
        // A timed-out session waits for its engine to be down before it backs off.
        if (sessionStateOf(snapshot) === 'timeout') {
          await report('SessionEngineStopped', { jitter: random() }, 'engine:stopped')
        }
        return
      case 'resetEngine':
      case 'logoutEngine': {
        const running = releaseEngine()
        if (running) {
          try {
            await running.logout()
          } catch (err) {
            log.warn({ err, sessionId }, 'engine logout failed; discarding the login anyway')
            await running.stop().catch(() => {})
          }
        }
        await engines.discardAuth(sessionId)
        return
      }
      case 'discardAuth':
        await engines.discardAuth(sessionId)
        return
      case 'probeEngine':
        probe()
        return
      default:
        log.warn({ sessionId, effect: effect.type }, 'unknown session effect')
    }
  }

  const follow = (events: StoredEvent[]) => {
    for (const e of events) {
      if (e.streamId !== streamId || e.version <= version) continue
      const step = agg.folder.step(snapshot, e.type, e.data)
      snapshot = step.after
      version = e.version
      if (sessionStateOf(snapshot) !== 'qr') qr = null
      for (const effect of step.effects) {
        effects = effects.then(() =>
          closed
            ? undefined
            : perform(effect).catch((err: unknown) =>
                log.error({ err, sessionId, effect: effect.type }, 'session effect failed'),
              ),
        )
      }
    }
  }

  return {
    sessionId,
    /** Follows the stream from its current version on; effects already performed are not repeated. */
    start() {
      unsubscribe = store.subscribe(follow)
      const current = commands.load(streamId)
      snapshot = current.snapshot
      version = current.version
    },
    state: () => sessionStateOf(snapshot),
    snapshot: () => snapshot,
    /** The QR on show, while the session waits for a scan. */
    qr: (): CurrentQr | null => (sessionStateOf(snapshot) === 'qr' ? qr : null),
    /** The engine of the current run while it is connected (the dispatcher sends through it). */
    engine: (): WhatsAppEngine | null => (engine === lost ? null : engine),
    /** Resolves once every effect and report asked for so far is done (probes excepted). */
    async settled(): Promise<void> {
      for (;;) {
        const pending = [effects, reports]
        await Promise.all(pending)
        if (pending[0] === effects && pending[1] === reports) return
      }
    },
    /** Stops following, stops the engine; the session's state in the log is left as it is. */
    async close(): Promise<void> {
      unsubscribe?.()
      await effects
      await reports
      closed = true
      await stopEngine()
    },
  }
}

export type SessionActor = ReturnType<typeof createSessionActor>
