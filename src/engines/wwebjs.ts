// The whatsapp-web.js adapter: one Chromium-driven WhatsApp Web client per engine run, logins kept under DATA_DIR.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import pkg from 'whatsapp-web.js'
import { CHROMIUM_FLAGS, endOrphanBrowser, killChrome } from './chrome-path.ts'
import {
  EngineError,
  type EngineEvent,
  type EngineFactory,
  type EngineListener,
  SESSION_ID,
  type SentMessage,
  type WhatsAppEngine,
} from './engine.ts'
import { messageOf, relayClientEvents, toEngineError } from './wwebjs-events.ts'

const { Client, LocalAuth } = pkg

/** The browser's process as Node's ChildProcess shows it. */
export interface BrowserProcess {
  pid?: number
  exitCode?: number | null
  signalCode?: string | null
  once?(event: 'exit', listener: () => void): unknown
}

/** The part of whatsapp-web.js's `Client` the adapter uses (an EventEmitter). */
export interface ClientLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown
  initialize(): Promise<void>
  destroy(): Promise<void>
  logout(): Promise<void>
  getState(): Promise<string | null>
  isRegisteredUser(chatId: string): Promise<boolean>
  sendMessage(
    chatId: string,
    content: string,
    options?: { sendSeen?: boolean },
  ): Promise<{ id: { _serialized: string } } | null | undefined>
  info?: { wid?: { user?: string } } | null
  /** Puppeteer's browser once launched: its process, and its `disconnected` event when it dies. */
  pupBrowser?: {
    process(): BrowserProcess | null
    once?(event: 'disconnected', listener: () => void): unknown
  } | null
}

export type ClientFactory = (options: {
  sessionId: string
  authDir: string
  chromePath: string
  args: string[]
}) => ClientLike

export interface WwebjsDeps {
  dataDir: string
  chromePath: string
  /** Builds the client; whatsapp-web.js's own unless a test passes a fake. */
  clientFactory?: ClientFactory
  /**
   * How long `start()` waits for WhatsApp Web to load before giving up. A safety net only: each
   * session's own `startTimeoutMs` (at most an hour) decides, so the default is no shorter.
   */
  startTimeoutMs?: number
  /** How long a send may go unanswered by WhatsApp Web before it counts as a timeout. */
  sendTimeoutMs?: number
}

/** The longest `startTimeoutMs` a session accepts: the engine waits at least as long as the session. */
export const DEFAULT_START_TIMEOUT_MS = 3_600_000
export const DEFAULT_SEND_TIMEOUT_MS = 60_000
/** Bounds on each teardown step, so that a wedged browser cannot hold `stop()` forever. */
const TEARDOWN_WAIT_MS = 15_000
const POLL_MS = 50
/** How long a browser that lost its connection is given to exit before it is judged. */
const EXIT_WAIT_MS = 2_000

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves when `promise` settles or after `ms`, whichever comes first; never rejects. */
const settleWithin = (promise: Promise<unknown>, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    const done = () => {
      clearTimeout(timer)
      resolve()
    }
    promise.then(done, done)
  })

/** Whether a browser process died rather than closed: waits (bounded) for it to exit, then reads how. */
const exitOf = async (browser: BrowserProcess): Promise<boolean> => {
  if (browser.exitCode == null && browser.signalCode == null) {
    await settleWithin(new Promise<void>((resolve) => browser.once?.('exit', resolve)), EXIT_WAIT_MS)
  }
  return browser.signalCode != null || (browser.exitCode != null && browser.exitCode !== 0)
}

/** `promise`, or `failure()` thrown if it has not settled within `ms`. */
const within = async <T>(promise: Promise<T>, ms: number, failure: () => Error): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(failure()), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

const waitWhile = async (condition: () => boolean, ms: number): Promise<void> => {
  const deadline = Date.now() + ms
  while (condition() && Date.now() < deadline) await delay(POLL_MS)
}

const authDirOf = (dataDir: string, sessionId: string): string => {
  // The id becomes a folder that logout removes recursively: never let it climb out of DATA_DIR/sessions.
  if (!SESSION_ID.test(sessionId)) throw new TypeError(`invalid session id: ${JSON.stringify(sessionId)}`)
  return join(dataDir, 'sessions', sessionId)
}

const removeDir = (dir: string) => rm(dir, { recursive: true, force: true, maxRetries: 4 })

const defaultClientFactory: ClientFactory = ({ authDir, chromePath, args }) =>
  new Client({
    authStrategy: new LocalAuth({ dataPath: authDir }),
    puppeteer: {
      executablePath: chromePath,
      headless: true,
      args,
      // Kurir shuts down on SIGINT/SIGTERM itself and stops its engines; puppeteer's own handlers would
      // close browsers under it (and exit the process on SIGINT). Its exit hook still kills them on a crash.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    },
    // 'local' (the default) writes WhatsApp Web's page into ./.wwebjs_cache in the working directory and
    // later serves that copy, which goes stale; 'remote' fetches from a third party. Load it live.
    webVersionCache: { type: 'none' },
    takeoverOnConflict: false,
  })

type Phase = 'new' | 'starting' | 'started' | 'stopped'

const createEngine = (
  client: ClientLike,
  authDir: string,
  { startTimeoutMs, sendTimeoutMs }: { startTimeoutMs: number; sendTimeoutMs: number },
): WhatsAppEngine => {
  let phase: Phase = 'new'
  const listeners = new Set<EngineListener>()
  let detach: (() => void) | undefined
  let initializing: Promise<unknown> | undefined
  let initSettled = false
  let stopping: Promise<void> | undefined
  const pids = new Set<number>()

  // A function rather than a comparison inline: `phase` changes under awaits, which narrowing does not see.
  const isStopped = () => phase === 'stopped'

  // Browser pids are kept as soon as they are known: after destroy() the client no longer says them, and
  // a client whose stored login failed relaunches its browser within the same initialize().
  const watched = new WeakSet<object>()
  const notePid = () => {
    try {
      const browser = client.pupBrowser
      const pid = browser?.process()?.pid
      if (pid !== undefined) pids.add(pid)
      if (browser && !watched.has(browser)) {
        watched.add(browser)
        // whatsapp-web.js says nothing when its browser dies (killed, crashed): the engine does, so that
        // the session restarts at once instead of at its next probe or QR timeout.
        const launched = browser.process()
        browser.once?.('disconnected', () => {
          if (stopping !== undefined) return
          if (phase === 'started') {
            emit({ type: 'disconnected', reason: 'BROWSER_CLOSED' })
            return
          }
          // While starting, whatsapp-web.js closes and relaunches its browser itself when a stored
          // login fails: only a browser that died (a signal, an exit code) is a lost connection.
          if (phase === 'starting' && launched) {
            void exitOf(launched).then((died) => {
              if (died && phase === 'starting' && stopping === undefined) {
                emit({ type: 'disconnected', reason: 'BROWSER_CLOSED' })
              }
            })
          }
        })
      }
    } catch {
      // A half-closed browser; the pids seen earlier stand.
    }
  }

  const emit = (event: EngineEvent) => {
    if (phase === 'stopped') return
    notePid()
    for (const listener of [...listeners]) {
      try {
        listener(event)
      } catch {
        // One listener's failure is not the engine's, nor the other listeners'.
      }
    }
  }

  const release = async () => {
    notePid()
    await settleWithin(
      Promise.resolve().then(() => client.destroy()),
      TEARDOWN_WAIT_MS,
    )
    for (const pid of pids) await killChrome(pid)
  }

  const teardown = async () => {
    const launched = phase !== 'new'
    phase = 'stopped'
    detach?.()
    detach = undefined
    listeners.clear()
    if (!launched) return
    // The browser can only be closed once it is known; a launch still under way is waited for.
    await waitWhile(() => {
      notePid()
      return !initSettled && pids.size === 0
    }, TEARDOWN_WAIT_MS)
    const early = !initSettled
    await release()
    if (!early) return
    // whatsapp-web.js does not close the browser when initialize() fails, nor notice a destroy() made
    // while it runs: release again once it has settled, so that no browser outlives the engine.
    await waitWhile(() => !initSettled, TEARDOWN_WAIT_MS)
    if (initSettled) await release()
    else void initializing?.then(release)
  }

  const stop = (): Promise<void> => {
    stopping ??= teardown()
    return stopping
  }

  const ensureRunning = () => {
    if (phase === 'stopped') throw new EngineError('SESSION_CLOSED', 'the engine was stopped')
    if (phase !== 'started') throw new EngineError('NOT_READY', 'the engine has not started')
  }

  const call = async <T>(action: () => Promise<T>): Promise<T> => {
    ensureRunning()
    try {
      return await action()
    } catch (err) {
      throw toEngineError(err)
    }
  }

  const start = async (): Promise<void> => {
    if (phase !== 'new') {
      throw new EngineError(
        'START_FAILED',
        `the engine was already ${phase === 'stopped' ? 'stopped' : 'started'}`,
      )
    }
    phase = 'starting'
    detach = relayClientEvents(client, emit)
    // LocalAuth keeps the browser profile in <authDir>/session; a browser a killed gateway left on it
    // would refuse this one.
    const run = endOrphanBrowser(join(authDir, 'session')).then(() => client.initialize())
    initializing = run.then(
      () => {
        initSettled = true
      },
      () => {
        initSettled = true
      },
    )
    try {
      await within(
        run,
        startTimeoutMs,
        () => new Error(`WhatsApp Web did not load within ${startTimeoutMs} ms`),
      )
    } catch (err) {
      const stoppedMeanwhile = isStopped()
      await stop()
      const reason = stoppedMeanwhile ? 'the engine was stopped while starting' : messageOf(err)
      throw new EngineError('START_FAILED', `could not start WhatsApp Web: ${reason}`, { cause: err })
    }
    notePid()
    if (isStopped()) {
      await stop()
      throw new EngineError(
        'START_FAILED',
        'could not start WhatsApp Web: the engine was stopped while starting',
      )
    }
    phase = 'started'
  }

  const logout = async (): Promise<void> => {
    if (phase === 'started') {
      // Unlinks the device on the phone; when the connection is already gone there is nothing to unlink.
      await settleWithin(
        Promise.resolve().then(() => client.logout()),
        TEARDOWN_WAIT_MS,
      )
    }
    await stop()
    await removeDir(authDir)
  }

  const sendText = (chatId: string, body: string): Promise<SentMessage> =>
    call(async () => {
      // sendSeen: an API send must not mark the recipient's chat as read on the linked phone.
      // A send WhatsApp Web never answers would hold its slot for good: after the bound it is a timeout.
      const message = await within(
        client.sendMessage(chatId, body, { sendSeen: false }),
        sendTimeoutMs,
        () =>
          new EngineError(
            'NETWORK_TIMEOUT',
            `WhatsApp Web did not answer the send within ${sendTimeoutMs} ms`,
          ),
      )
      const messageId = message?.id?._serialized
      if (typeof messageId !== 'string') throw new Error(`WhatsApp Web returned no message for ${chatId}`)
      return { messageId }
    })

  return {
    start,
    stop,
    logout,
    getState: () => call(() => client.getState()),
    isRegistered: (chatId) => call(() => client.isRegisteredUser(chatId)),
    sendText,
    on: (listener) => {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
  }
}

/**
 * Engines that drive WhatsApp Web in the system's Chromium. Each `create()` builds a new client (a
 * whatsapp-web.js client is spent once it disconnects); its login lives in DATA_DIR/sessions/<id>.
 *
 * @example
 * const engines = createWwebjsEngines({ dataDir: config.dataDir, chromePath: findChrome(env.CHROME_PATH) })
 * const engine = engines.create('sales')
 * engine.on((event) => { if (event.type === 'qr') showQr(event.qr) })
 * await engine.start()
 */
export const createWwebjsEngines = (deps: WwebjsDeps): EngineFactory => {
  const clientFactory = deps.clientFactory ?? defaultClientFactory
  const timeouts = {
    startTimeoutMs: deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    sendTimeoutMs: deps.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
  }
  return {
    kind: 'wwebjs',
    create: (sessionId) => {
      const authDir = authDirOf(deps.dataDir, sessionId)
      const client = clientFactory({
        sessionId,
        authDir,
        chromePath: deps.chromePath,
        args: [...CHROMIUM_FLAGS],
      })
      return createEngine(client, authDir, timeouts)
    },
    discardAuth: async (sessionId) => {
      await removeDir(authDirOf(deps.dataDir, sessionId))
    },
  }
}
