// The whatsapp-web.js adapter against a fake Client that speaks the real one's events, and findChrome.
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { CHROMIUM_FLAGS, DEFAULT_CHROME_PATHS, findChrome } from '../../src/engines/chrome-path.ts'
import { EngineError, type EngineEvent } from '../../src/engines/engine.ts'
import { type ClientLike, createWwebjsEngines, DEFAULT_START_TIMEOUT_MS } from '../../src/engines/wwebjs.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

const deferred = (): Deferred => {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

type Options = { sessionId: string; authDir: string; chromePath: string; args: string[] }

/** Speaks whatsapp-web.js's events with their real argument shapes and records what it is asked. */
class FakeClient extends EventEmitter implements ClientLike {
  readonly calls: string[] = []
  info: ClientLike['info'] = null
  pupBrowser: ClientLike['pupBrowser'] = null
  /** What initialize() does; resolves at once unless a test says otherwise. */
  initializing: () => Promise<void> = async () => {}
  destroying: () => Promise<void> = async () => {}
  loggingOut: () => Promise<void> = async () => {}
  sending: () => Promise<{ id: { _serialized: string } } | undefined> = async () => ({
    id: { _serialized: 'true_6281234567890@c.us_3EB0ABCDEF' },
  })
  failure: unknown

  constructor(readonly options: Options) {
    super()
  }

  initialize() {
    this.calls.push('initialize')
    return this.initializing()
  }
  destroy() {
    this.calls.push('destroy')
    return this.destroying()
  }
  logout() {
    this.calls.push('logout')
    return this.loggingOut()
  }
  async getState() {
    this.calls.push('getState')
    return 'CONNECTED'
  }
  async isRegisteredUser(chatId: string) {
    this.calls.push(`isRegisteredUser ${chatId}`)
    return chatId.startsWith('62')
  }
  sendMessage(chatId: string, content: string, options?: { sendSeen?: boolean }) {
    this.calls.push(`sendMessage ${chatId} ${content} ${JSON.stringify(options)}`)
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return this.sending()
  }
}

const setup = () => {
  const dataDir = tempDir()
  const clients: FakeClient[] = []
  const engines = createWwebjsEngines({
    dataDir,
    chromePath: '/usr/bin/chromium',
    clientFactory: (options) => {
      const client = new FakeClient(options)
      clients.push(client)
      return client
    },
  })
  /** A new engine for `sessionId`, its fake client, and the events it has emitted. */
  const create = (sessionId = 'sales') => {
    const engine = engines.create(sessionId)
    const client = clients.at(-1)!
    const events: EngineEvent[] = []
    engine.on((event) => events.push(event))
    return { engine, client, events }
  }
  return { dataDir, engines, clients, create }
}

const rejection = async (promise: Promise<unknown>): Promise<EngineError> => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(EngineError)
  return err as EngineError
}

describe('wwebjs engine events', () => {
  it('translates every client event into an engine event', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    await engine.start()
    client.info = { wid: { user: '6281234567890' } }

    client.emit('loading_screen', 42, 'WhatsApp')
    client.emit('qr', '2@abc,def,ghi,1')
    client.emit('authenticated', undefined)
    client.emit('ready')
    client.emit('change_state', 'CONNECTED')
    client.emit('message_ack', { id: { _serialized: 'true_6281@c.us_3EB0' }, ack: 2 }, 2)
    client.emit('auth_failure', 'restore failed')
    client.emit('disconnected', 'LOGOUT')
    client.emit('disconnected', 'CONFLICT')

    expect(events).toEqual([
      { type: 'loading', percent: 42, message: 'WhatsApp' },
      { type: 'qr', qr: '2@abc,def,ghi,1' },
      { type: 'authenticated' },
      { type: 'ready', phoneNumber: '6281234567890' },
      { type: 'state', state: 'CONNECTED' },
      { type: 'ack', messageId: 'true_6281@c.us_3EB0', ack: 2 },
      { type: 'auth_failure', message: 'restore failed' },
      { type: 'disconnected', reason: 'LOGOUT' },
      { type: 'disconnected', reason: 'CONFLICT' },
    ])
  })

  it('reports no phone number when the client does not know its account', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    await engine.start()
    client.emit('ready')
    expect(events).toEqual([{ type: 'ready', phoneNumber: null }])
  })

  it('hears a QR shown while initialize() is still running', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    client.initializing = async () => {
      client.emit('qr', 'first-qr')
    }
    await engine.start()
    expect(events).toEqual([{ type: 'qr', qr: 'first-qr' }])
  })

  it('keeps the client and the other listeners going when a listener throws', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    engine.on(() => {
      throw new Error('listener bug')
    })
    const later: EngineEvent[] = []
    engine.on((event) => later.push(event))
    await engine.start()
    expect(() => client.emit('authenticated')).not.toThrow()
    expect(events).toEqual([{ type: 'authenticated' }])
    expect(later).toEqual([{ type: 'authenticated' }])
  })

  it('drops an ack for a message without an id instead of throwing into the client', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    await engine.start()
    expect(() => client.emit('message_ack', {}, 3)).not.toThrow()
    expect(events).toEqual([])
  })

  it('stops telling a listener once it unsubscribes', async () => {
    const { create } = setup()
    const { engine, client } = create()
    const heard: EngineEvent[] = []
    const off = engine.on((event) => heard.push(event))
    await engine.start()
    off()
    client.emit('authenticated')
    expect(heard).toEqual([])
  })
})

describe('wwebjs engine start', () => {
  it('rejects a failed initialize with START_FAILED carrying its text, and destroys the client', async () => {
    const { create } = setup()
    const { engine, client } = create()
    const cause = new Error('net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/')
    client.initializing = async () => {
      throw cause
    }
    const err = await rejection(engine.start())
    expect(err.code).toBe('START_FAILED')
    expect(err.retryable).toBe(true)
    expect(err.message).toBe(
      'could not start WhatsApp Web: net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/',
    )
    expect(err.cause).toBe(cause)
    expect(client.calls).toEqual(['initialize', 'destroy'])
    expect(client.listenerCount('qr')).toBe(0)
  })

  it('gives up on WhatsApp Web that does not load within startTimeoutMs and closes the browser', async () => {
    const dataDir = tempDir()
    const client = new FakeClient({ sessionId: 's', authDir: '', chromePath: '', args: [] })
    const navigation = deferred()
    client.pupBrowser = { process: () => ({ pid: 999_999_999 }) }
    client.initializing = () => navigation.promise
    // As in whatsapp-web.js: closing the browser fails the navigation that initialize() waits on.
    client.destroying = async () => navigation.reject(new Error('Navigating frame was detached'))
    const engines = createWwebjsEngines({
      dataDir,
      chromePath: '/usr/bin/chromium',
      startTimeoutMs: 20,
      clientFactory: () => client,
    })
    const err = await rejection(engines.create('slow').start())
    expect(err.code).toBe('START_FAILED')
    expect(err.message).toBe('could not start WhatsApp Web: WhatsApp Web did not load within 20 ms')
    expect(client.calls).toContain('destroy')
  })

  it('refuses a second start and a start after stop', async () => {
    const { create } = setup()
    const first = create()
    await first.engine.start()
    expect((await rejection(first.engine.start())).code).toBe('START_FAILED')
    expect(first.client.calls).toEqual(['initialize'])

    const second = create()
    await second.engine.stop()
    expect((await rejection(second.engine.start())).code).toBe('START_FAILED')
    expect(second.client.calls).toEqual([])
  })
})

describe('wwebjs engine stop', () => {
  it('destroys the client once however often it is called', async () => {
    const { create } = setup()
    const { engine, client } = create()
    await engine.start()
    await Promise.all([engine.stop(), engine.stop()])
    await engine.stop()
    expect(client.calls).toEqual(['initialize', 'destroy'])
  })

  it('has nothing to release for an engine that never started', async () => {
    const { create } = setup()
    const { engine, client } = create()
    await engine.stop()
    expect(client.calls).toEqual([])
  })

  it('waits for a pending initialize to settle, then destroys what it launched', async () => {
    const { create } = setup()
    const { engine, client } = create()
    const launch = deferred()
    client.initializing = () => launch.promise
    const started = engine.start().then(
      () => 'resolved',
      (err: EngineError) => err.code,
    )
    let stopped = false
    const stopping = engine.stop().then(() => {
      stopped = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.calls).toEqual(['initialize'])
    expect(stopped).toBe(false)

    client.calls.push('initialize settled')
    launch.resolve()
    await stopping
    expect(client.calls).toEqual(['initialize', 'initialize settled', 'destroy'])
    expect(await started).toBe('START_FAILED')
  })

  it('tells nothing after stop, even when the client keeps talking', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    await engine.start()
    await engine.stop()
    client.emit('qr', 'late')
    client.emit('disconnected', 'NAVIGATION')
    expect(events).toEqual([])
    expect(client.eventNames()).toEqual([])
  })

  it('swallows a destroy that fails', async () => {
    const { create } = setup()
    const { engine, client } = create()
    client.destroying = async () => {
      throw new Error('Protocol error: Connection closed.')
    }
    await engine.start()
    await expect(engine.stop()).resolves.toBeUndefined()
  })

  it('kills a browser process that outlives destroy()', async () => {
    const { create } = setup()
    const { engine, client } = create()
    // Launched as puppeteer launches Chromium: the leader of its own process group.
    const browser = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' })
    const exited = new Promise((resolve) => browser.once('exit', (_code, signal) => resolve(signal)))
    client.pupBrowser = { process: () => ({ pid: browser.pid }) }
    await engine.start()
    client.pupBrowser = null
    await engine.stop()
    expect(await exited).toBe('SIGKILL')
  })
})

describe('wwebjs engine calls', () => {
  it('refuses calls before start with NOT_READY and after stop with SESSION_CLOSED', async () => {
    const { create } = setup()
    const { engine, client } = create()
    for (const call of [
      () => engine.getState(),
      () => engine.isRegistered('6281@c.us'),
      () => engine.sendText('6281@c.us', 'hi'),
    ]) {
      expect((await rejection(call())).code).toBe('NOT_READY')
    }
    await engine.start()
    await engine.stop()
    for (const call of [
      () => engine.getState(),
      () => engine.isRegistered('6281@c.us'),
      () => engine.sendText('6281@c.us', 'hi'),
    ]) {
      expect((await rejection(call())).code).toBe('SESSION_CLOSED')
    }
    expect(client.calls).toEqual(['initialize', 'destroy'])
  })

  it('asks the client for the state and for registration', async () => {
    const { create } = setup()
    const { engine } = create()
    await engine.start()
    expect(await engine.getState()).toBe('CONNECTED')
    expect(await engine.isRegistered('6281234567890@c.us')).toBe(true)
    expect(await engine.isRegistered('1555000111@c.us')).toBe(false)
  })

  it('sends a text without marking the chat as read and returns the serialized message id', async () => {
    const { create } = setup()
    const { engine, client } = create()
    await engine.start()
    expect(await engine.sendText('6281234567890@c.us', 'Halo')).toEqual({
      messageId: 'true_6281234567890@c.us_3EB0ABCDEF',
    })
    expect(client.calls).toContain('sendMessage 6281234567890@c.us Halo {"sendSeen":false}')
  })

  it('treats a send that yields no message as a protocol error', async () => {
    const { create } = setup()
    const { engine, client } = create()
    client.sending = async () => undefined
    await engine.start()
    const err = await rejection(engine.sendText('6281@c.us', 'hi'))
    expect(err.code).toBe('PROTOCOL_ERROR')
    expect(err.message).toMatch(/no message for 6281@c.us/)
  })

  it.each([
    [
      'Protocol error (Runtime.callFunctionOn): Session closed. Most likely the page has been closed.',
      'SESSION_CLOSED',
    ],
    ['Protocol error (Runtime.callFunctionOn): Target closed', 'SESSION_CLOSED'],
    ['Attempted to use detached Frame 4A1B.', 'SESSION_CLOSED'],
    ['Protocol error (Runtime.callFunctionOn): Cannot find context with specified id', 'PROTOCOL_ERROR'],
    ["Runtime.callFunctionOn timed out. Increase the 'protocolTimeout' setting", 'NETWORK_TIMEOUT'],
    ['Navigation timeout of 30000 ms exceeded', 'NETWORK_TIMEOUT'],
    ['rate-overlimit', 'RATE_LIMITED'],
    ['rate limit exceeded', 'RATE_LIMITED'],
    ['Too Many Requests', 'RATE_LIMITED'],
    // "generate" holds "rate": not a rate limit, which would cool the queue down again and again.
    ['could not generate message: over the size limit', 'PROTOCOL_ERROR'],
    ['request failed with status 429', 'RATE_LIMITED'],
    ['Evaluation failed: Error: invalid wid', 'NOT_REGISTERED'],
    ['Evaluation failed: Error: No LID for user', 'NOT_REGISTERED'],
    ['the number is not registered', 'NOT_REGISTERED'],
    ['Evaluation failed: chat 6281429001@c.us', 'PROTOCOL_ERROR'],
    ["Cannot read properties of undefined (reading 'markedUnread')", 'PROTOCOL_ERROR'],
  ])('maps the send failure "%s" to %s, keeping the original as cause', async (text, code) => {
    const { create } = setup()
    const { engine, client } = create()
    await engine.start()
    client.failure = new Error(text)
    const err = await rejection(engine.sendText('6281@c.us', 'hi'))
    expect(err.code).toBe(code)
    expect(err.message).toBe(text)
    expect(err.cause).toBe(client.failure)
    expect(err.retryable).toBe(code !== 'NOT_REGISTERED')
  })

  it('maps a bare string thrown by whatsapp-web.js too', async () => {
    const { create } = setup()
    const { engine, client } = create()
    await engine.start()
    client.failure = 'auth timeout'
    const err = await rejection(engine.sendText('6281@c.us', 'hi'))
    expect(err.code).toBe('NETWORK_TIMEOUT')
    expect(err.cause).toBe('auth timeout')
  })
})

describe('wwebjs engine watching its browser', () => {
  /** A puppeteer browser as the engine sees it: its process, and `disconnected` when it goes. */
  const fakeBrowser = () => {
    const process = Object.assign(new EventEmitter(), {
      exitCode: null as number | null,
      signalCode: null as string | null,
    })
    const browser = Object.assign(new EventEmitter(), { process: () => process })
    /** The process ends (a code, or a signal) and puppeteer says the browser disconnected. */
    const end = (how: { code?: number; signal?: string }) => {
      browser.emit('disconnected')
      process.exitCode = how.code ?? null
      process.signalCode = how.signal ?? null
      process.emit('exit')
    }
    return { browser, end }
  }

  it('says the connection is lost when the browser dies after the start', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    const { browser, end } = fakeBrowser()
    client.pupBrowser = browser
    await engine.start()
    end({ signal: 'SIGKILL' })
    expect(events).toEqual([{ type: 'disconnected', reason: 'BROWSER_CLOSED' }])
    await engine.stop()
  })

  it('says so while starting (a QR on show) only when the browser died, not when the library closed it', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    const init = deferred()
    client.initializing = () => init.promise
    const relaunched = fakeBrowser()
    client.pupBrowser = relaunched.browser
    const starting = engine.start()
    client.emit('qr', 'first-qr')
    // whatsapp-web.js closes its browser to launch another when a stored login fails: exit code 0.
    relaunched.end({ code: 0 })
    await new Promise((resolve) => setImmediate(resolve))
    expect(events).toEqual([{ type: 'qr', qr: 'first-qr' }])
    const killed = fakeBrowser()
    client.pupBrowser = killed.browser
    client.emit('qr', 'second-qr')
    killed.end({ signal: 'SIGKILL' })
    await new Promise((resolve) => setImmediate(resolve))
    expect(events.at(-1)).toEqual({ type: 'disconnected', reason: 'BROWSER_CLOSED' })
    init.resolve()
    await starting
    await engine.stop()
  })

  it('says nothing when the browser goes because the engine stops', async () => {
    const { create } = setup()
    const { engine, client, events } = create()
    const { browser, end } = fakeBrowser()
    client.pupBrowser = browser
    client.destroying = async () => end({ code: 0 })
    await engine.start()
    await engine.stop()
    expect(events).toEqual([])
  })
})

describe('wwebjs engine send timeout', () => {
  it('answers a send WhatsApp Web never answers with a retryable NETWORK_TIMEOUT after a minute', async () => {
    vi.useFakeTimers()
    try {
      const { create } = setup()
      const { engine, client } = create()
      client.sending = () => new Promise(() => {})
      await engine.start()
      const sending = rejection(engine.sendText('6281@c.us', 'hi'))
      await vi.advanceTimersByTimeAsync(59_999)
      let settled = false
      void sending.then(() => {
        settled = true
      })
      await vi.advanceTimersByTimeAsync(0)
      expect(settled).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      const err = await sending
      expect(err).toMatchObject({ code: 'NETWORK_TIMEOUT', retryable: true })
      expect(err.message).toMatch(/did not answer the send within 60000 ms/)
      await engine.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('waits for WhatsApp Web to load at least as long as the longest startTimeoutMs a session takes', () => {
    expect(DEFAULT_START_TIMEOUT_MS).toBeGreaterThanOrEqual(3_600_000)
  })
})

describe('wwebjs engine logout', () => {
  const storeLogin = (dataDir: string, sessionId: string) => {
    const dir = join(dataDir, 'sessions', sessionId, 'session', 'Default')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'Cookies'), 'login')
  }

  it('unlinks the device, stops and removes the stored login', async () => {
    const { create, dataDir } = setup()
    storeLogin(dataDir, 'sales')
    const { engine, client } = create('sales')
    await engine.start()
    await engine.logout()
    expect(client.calls).toEqual(['initialize', 'logout', 'destroy'])
    expect(existsSync(join(dataDir, 'sessions', 'sales'))).toBe(false)
    expect((await rejection(engine.getState())).code).toBe('SESSION_CLOSED')
  })

  it('still removes the stored login when the client cannot log out', async () => {
    const { create, dataDir } = setup()
    storeLogin(dataDir, 'sales')
    const { engine, client } = create('sales')
    client.loggingOut = async () => {
      throw new TypeError("Cannot read properties of null (reading 'evaluate')")
    }
    await engine.start()
    await engine.logout()
    expect(existsSync(join(dataDir, 'sessions', 'sales'))).toBe(false)
  })

  it('removes the stored login of an engine that never started without asking the client', async () => {
    const { create, dataDir } = setup()
    storeLogin(dataDir, 'sales')
    const { engine, client } = create('sales')
    await engine.logout()
    expect(client.calls).toEqual([])
    expect(existsSync(join(dataDir, 'sessions', 'sales'))).toBe(false)
  })
})

describe('wwebjs engine factory', () => {
  it('builds a fresh client for every create(), its login under DATA_DIR/sessions/<id>', () => {
    const { engines, clients, dataDir } = setup()
    expect(engines.kind).toBe('wwebjs')
    const first = engines.create('sales')
    const second = engines.create('sales')
    expect(first).not.toBe(second)
    expect(clients).toHaveLength(2)
    expect(clients[0]).not.toBe(clients[1])
    expect(clients[0]?.options).toEqual({
      sessionId: 'sales',
      authDir: join(dataDir, 'sessions', 'sales'),
      chromePath: '/usr/bin/chromium',
      args: [...CHROMIUM_FLAGS],
    })
  })

  it("discards one session's stored login and leaves the others", async () => {
    const { engines, dataDir } = setup()
    for (const id of ['sales', 'support']) {
      mkdirSync(join(dataDir, 'sessions', id, 'session'), { recursive: true })
    }
    await engines.discardAuth('sales')
    await engines.discardAuth('never-linked')
    expect(existsSync(join(dataDir, 'sessions', 'sales'))).toBe(false)
    expect(existsSync(join(dataDir, 'sessions', 'support', 'session'))).toBe(true)
  })

  it('refuses a session id that would reach outside DATA_DIR/sessions', async () => {
    const { engines } = setup()
    expect(() => engines.create('../etc')).toThrow(/invalid session id/)
    await expect(engines.discardAuth('..')).rejects.toThrow(/invalid session id/)
  })
})

const thrown = (fn: () => unknown): EngineError => {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError)
    return err as EngineError
  }
  throw new Error('expected an EngineError')
}

describe('findChrome', () => {
  it('uses CHROME_PATH when it points at a file', () => {
    expect(findChrome('/opt/chrome/chrome', (path) => path === '/opt/chrome/chrome')).toBe(
      '/opt/chrome/chrome',
    )
  })

  it('names CHROME_PATH and the path when CHROME_PATH points at nothing', () => {
    const err = thrown(() => findChrome('/opt/missing/chrome', () => false))
    expect(err.code).toBe('BROWSER_NOT_FOUND')
    expect(err.retryable).toBe(false)
    expect(err.message).toMatch(/CHROME_PATH/)
    expect(err.message).toContain('/opt/missing/chrome')
  })

  it('takes the first usual path that exists when CHROME_PATH is unset or empty', () => {
    const present = new Set(['/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable'])
    expect(findChrome(undefined, (path) => present.has(path))).toBe('/usr/bin/chromium-browser')
    expect(findChrome('', (path) => present.has(path))).toBe('/usr/bin/chromium-browser')
  })

  it('names CHROME_PATH and every path tried when no browser is found', () => {
    const err = thrown(() => findChrome(undefined, () => false))
    expect(err.code).toBe('BROWSER_NOT_FOUND')
    expect(err.message).toMatch(/CHROME_PATH/)
    expect(err.message).toMatch(/apt-get install chromium/)
    for (const path of DEFAULT_CHROME_PATHS) expect(err.message).toContain(path)
  })
})
