// The simulator engine: an in-process stand-in for WhatsApp that links, sends and fails on cue, with every
// delay on the injected clock.
import type { Clock, TimerHandle } from '../clock.ts'
import {
  CONNECTED,
  EngineError,
  type EngineEvent,
  type EngineFactory,
  type EngineListener,
  SESSION_ID,
  type SendOptions,
  type SentMessage,
  type WhatsAppEngine,
} from './engine.ts'
import { createSimulatorFiles } from './simulator-files.ts'
import {
  chatIdDigits,
  isGroupChat,
  type NumberBehaviour,
  numberBehaviour,
  simulatedPhoneNumber,
} from './simulator-numbers.ts'

export interface SimulatorDeps {
  /** DATA_DIR. The simulator writes `simulator/sent.ndjson` and `simulator/linked/<sessionId>` in it. */
  dataDir: string
  clock: Clock
  /** Unique ids (ULIDs in production), used in QR strings and message ids. */
  newId: () => string
  /** How long after showing its QR the phone links by itself; default 1000; -1 never (wait for `link()`). */
  linkAfterMs?: number
  /** How long each send takes; default 0 (no timer at all). */
  sendLatencyMs?: number
}

export type ProbeMode = 'ok' | 'fail' | 'hang'

export interface Simulator extends EngineFactory {
  readonly kind: 'simulator'
  /** Links the session whose running engine shows a QR. Throws SimulatorError code 'NOT_WAITING_FOR_SCAN' otherwise. */
  link(sessionId: string): void
  /** Drops the running engine's connection as a phone losing network would. Throws SimulatorError code 'NOT_RUNNING' when no engine of that session runs. */
  disconnect(sessionId: string): void
  /** Test control: how getState() answers for this session's engines from now on ('ok' default; 'fail' rejects with EngineError NETWORK_TIMEOUT; 'hang' never settles). */
  setProbe(sessionId: string, mode: ProbeMode): void
  /** Whether the session has a stored link (the simulated phone scanned once and nobody logged out). */
  isLinked(sessionId: string): boolean
  /** Resolves once every message sent so far is flushed to `sent.ndjson` on disk. */
  flushed(): Promise<void>
}

export type SimulatorErrorCode = 'NOT_WAITING_FOR_SCAN' | 'NOT_RUNNING'

/** A simulator control (`link`, `disconnect`) asked of a session in no state to take it. */
export class SimulatorError extends Error {
  readonly code: SimulatorErrorCode
  constructor(code: SimulatorErrorCode, message: string) {
    super(message)
    this.name = 'SimulatorError'
    this.code = code
  }
}

/** What the simulator's controls need of the engine that runs a session. */
interface Run {
  waitingForScan(): boolean
  link(): void
  loseConnection(): void
}

type Status = 'new' | 'opening' | 'waiting' | 'ready' | 'stopped'

const closed = () => new EngineError('SESSION_CLOSED', 'the engine was stopped')

/**
 * A simulated WhatsApp: engines that show a QR, link themselves (or wait for `link()`), and send by the rules
 * of the number's last four digits (`0000` unregistered, `0001` always times out, `0002` times out on a message's first attempt).
 *
 * Events of an engine come in microtasks after `start()` resolves; subscribe before starting. On reaching
 * ready an engine emits `authenticated`, then `state` CONNECTED, then `ready`, so whoever hears `ready` finds
 * `getState()` already CONNECTED.
 *
 * @example
 * const simulator = createSimulator({ dataDir: '/var/lib/kurir', clock: systemClock, newId: ulidSource(systemClock) })
 * const engine = simulator.create('sales')
 * engine.on((event) => console.log(event.type)) // qr … then authenticated, state, ready a second later
 * await engine.start()
 */
export const createSimulator = (deps: SimulatorDeps): Simulator => {
  const { clock, newId } = deps
  const linkAfterMs = deps.linkAfterMs ?? 1000
  const sendLatencyMs = deps.sendLatencyMs ?? 0
  const files = createSimulatorFiles(deps.dataDir)
  /** The newest started engine of each session, until it stops. */
  const running = new Map<string, Run>()
  const probes = new Map<string, ProbeMode>()
  /**
   * Jobs to `…0002` numbers whose one timeout has happened: a manual retry counts its attempts from 1
   * again, but it is not the message's first attempt.
   */
  const timedOutJobs = new Set<string>()
  const qrsShown = new Map<string, number>()

  const create = (sessionId: string): WhatsAppEngine => {
    // Checked here rather than at first use, which happens in a microtask where a throw would go unheard.
    if (!SESSION_ID.test(sessionId)) throw new RangeError(`not a session id: ${JSON.stringify(sessionId)}`)
    let status: Status = 'new'
    let linkTimer: TimerHandle | undefined
    const listeners = new Set<EngineListener>()
    /** Sends waiting out their latency; stopping rejects them. */
    const holds = new Set<{ abort: () => void }>()

    const notify = (event: EngineEvent) => {
      for (const listener of [...listeners]) {
        try {
          listener(event)
        } catch {
          // A listener's failure is its own; the engine and the other listeners carry on.
        }
      }
    }
    const emit = (event: EngineEvent) => {
      if (status !== 'stopped') notify(event)
    }

    const becomeReady = () => {
      status = 'ready'
      emit({ type: 'authenticated' })
      emit({ type: 'state', state: CONNECTED })
      emit({ type: 'ready', phoneNumber: files.linkedNumber(sessionId) })
    }
    const showQr = () => {
      status = 'waiting'
      const count = (qrsShown.get(sessionId) ?? 0) + 1
      qrsShown.set(sessionId, count)
      emit({ type: 'qr', qr: `sim:${sessionId}:${count}:${newId()}` })
      // A listener may have stopped or linked the engine while hearing the QR.
      if (status === 'waiting' && linkAfterMs >= 0) linkTimer = clock.setTimer(link, linkAfterMs)
    }
    const link = () => {
      linkTimer?.cancel()
      linkTimer = undefined
      files.writeLink(sessionId, simulatedPhoneNumber(sessionId))
      becomeReady()
    }
    const shutdown = () => {
      if (status === 'stopped') return
      status = 'stopped'
      linkTimer?.cancel()
      linkTimer = undefined
      for (const hold of [...holds]) hold.abort()
      if (running.get(sessionId) === run) running.delete(sessionId)
    }

    const run: Run = {
      waitingForScan: () => status === 'waiting',
      link,
      loseConnection() {
        // Stopped before telling, so a listener that reacts by sending or probing finds the engine closed.
        shutdown()
        notify({ type: 'disconnected', reason: 'CONNECTION_LOST' })
      },
    }

    const waitLatency = () =>
      new Promise<void>((resolve, reject) => {
        const hold = {
          abort: () => {
            holds.delete(hold)
            timer.cancel()
            reject(closed())
          },
        }
        const timer = clock.setTimer(() => {
          holds.delete(hold)
          resolve()
        }, sendLatencyMs)
        holds.add(hold)
      })

    // A group has no number of its own: what is sent to it goes through.
    const behaviourOf = (chatId: string): NumberBehaviour => {
      if (isGroupChat(chatId)) return 'sends'
      const digits = chatIdDigits(chatId)
      if (digits === null)
        throw new EngineError('INVALID_NUMBER', `not a <digits>@c.us or <digits>@g.us chat id: ${chatId}`)
      return numberBehaviour(digits)
    }

    /** `…0002`: only a message's first attempt times out. */
    const firstAttempt = ({ jobId, attempt = 1 }: SendOptions): boolean => {
      if (attempt > 1 || (jobId !== undefined && timedOutJobs.has(jobId))) return false
      if (jobId !== undefined) {
        // Bounded: a long-running simulator forgets the oldest first.
        if (timedOutJobs.size >= 100_000) timedOutJobs.delete(timedOutJobs.values().next().value as string)
        timedOutJobs.add(jobId)
      }
      return true
    }

    const send = async (chatId: string, body: string, options: SendOptions): Promise<SentMessage> => {
      const behaviour = behaviourOf(chatId)
      if (status === 'stopped') throw closed()
      if (status !== 'ready') throw new EngineError('NOT_READY', 'the session is not connected yet')
      if (sendLatencyMs > 0) {
        await waitLatency()
        // Another timer due at the same tick may have stopped the engine after ours fired.
        if (status !== 'ready') throw closed()
      }
      if (behaviour === 'not_registered')
        throw new EngineError('NOT_REGISTERED', `${chatId} is not on WhatsApp`)
      if (behaviour === 'always_times_out' || (behaviour === 'times_out_once' && firstAttempt(options))) {
        throw new EngineError('NETWORK_TIMEOUT', `sending to ${chatId} timed out`)
      }
      const messageId = `true_${chatId}_${newId()}`
      await files.appendSent({ messageId, chatId, body, at: new Date(clock.now()).toISOString() })
      return { messageId }
    }

    return {
      async start() {
        if (status !== 'new') throw new EngineError('START_FAILED', 'an engine runs once; create a new one')
        status = 'opening'
        running.set(sessionId, run)
        queueMicrotask(() => {
          if (status !== 'opening') return
          if (files.isLinked(sessionId)) becomeReady()
          else showQr()
        })
      },
      async stop() {
        shutdown()
      },
      async logout() {
        files.removeLink(sessionId)
        shutdown()
      },
      getState() {
        if (status === 'stopped') return Promise.reject(closed())
        const mode = probes.get(sessionId) ?? 'ok'
        if (mode === 'fail')
          return Promise.reject(new EngineError('NETWORK_TIMEOUT', 'the state probe timed out'))
        if (mode === 'hang') return new Promise<string | null>(() => {})
        return Promise.resolve(status === 'ready' ? CONNECTED : 'OPENING')
      },
      async isRegistered(chatId) {
        return behaviourOf(chatId) !== 'not_registered'
      },
      sendText(chatId, body, options) {
        const sending = send(chatId, body, options ?? {})
        sending.then(
          ({ messageId }) => emit({ type: 'ack', messageId, ack: 1 }),
          () => {},
        )
        return sending
      },
      on(listener) {
        // A wrapper, so the same function subscribed twice is heard twice and unsubscribes once.
        const entry: EngineListener = (event) => listener(event)
        listeners.add(entry)
        return () => {
          listeners.delete(entry)
        }
      },
    }
  }

  return {
    kind: 'simulator',
    create,
    async discardAuth(sessionId) {
      files.removeLink(sessionId)
    },
    link(sessionId) {
      const run = running.get(sessionId)
      if (!run?.waitingForScan()) {
        throw new SimulatorError('NOT_WAITING_FOR_SCAN', `session ${sessionId} shows no QR to scan`)
      }
      run.link()
    },
    disconnect(sessionId) {
      const run = running.get(sessionId)
      if (!run) throw new SimulatorError('NOT_RUNNING', `no engine of session ${sessionId} runs`)
      run.loseConnection()
    },
    setProbe(sessionId, mode) {
      probes.set(sessionId, mode)
    },
    isLinked: (sessionId) => files.isLinked(sessionId),
    flushed: () => files.flushed(),
  }
}
