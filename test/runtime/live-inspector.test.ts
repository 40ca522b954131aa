import { createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { loadConfig } from '../../src/config.ts'
import { streamIds } from '../../src/core/aggregates.ts'
import { stateLabel } from '../../src/core/fold.ts'
import { createSimulator } from '../../src/engines/simulator.ts'
import { ulidSource } from '../../src/ids.ts'
import { createLogger } from '../../src/logger.ts'
import { startLiveInspector, stripForInspector } from '../../src/runtime/live-inspector.ts'
import { openRuntime } from '../../src/runtime/open-runtime.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { freePort } from '../support/free-port.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const silent = { debug() {}, info() {}, warn() {}, error() {} }
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

const PHONE_DIGITS = '6281234567890'
const BODY = 'Invoice 42 is due: 1,250,000 rupiah, reference 99887766'

type Message = { type: string; sessionId: string; [key: string]: unknown }

/** A second listener on the relay, as a browser page would be: every message it hears, raw and parsed. */
const listen = async (port: number) => {
  const raw: string[] = []
  const messages: Message[] = []
  let heard = () => {}
  const socket = new WebSocket(`ws://127.0.0.1:${port}`)
  socket.on('message', (data) => {
    raw.push(data.toString())
    messages.push(JSON.parse(data.toString()) as Message)
    heard()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  /** Resolves once a message matches, or fails after the deadline (messages travel over a socket). */
  const waitFor = (match: (m: Message) => boolean, deadlineMs = 5000) =>
    new Promise<Message>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('no such message arrived in time')), deadlineMs)
      heard = () => {
        const found = messages.find(match)
        if (found) {
          clearTimeout(deadline)
          resolve(found)
        }
      }
      heard()
    })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return { raw, messages, waitFor, closed, close: () => socket.close() }
}

/** A core, a simulator and the runtime, on a fake clock, with the default session linked and ready. */
const openReadyGateway = async (dir: string) => {
  const clock = createFakeClock()
  const core = openTestCore(dir, { clock })
  const newId = ulidSource(clock)
  const simulator = createSimulator({ dataDir: dir, clock, newId, linkAfterMs: -1, sendLatencyMs: 0 })
  const runtime = openRuntime({ core, engines: simulator, log: silent, random: () => 0.5 })
  closers.push(async () => {
    await runtime.close()
    await core.close()
  })
  await runtime.dispatchers.boot()
  const settle = async () => {
    for (let i = 0; i < 40; i++) {
      await runtime.sessions.settled()
      await runtime.scheduler.idle()
      await new Promise((r) => setImmediate(r))
    }
  }
  await runtime.sessions.create('default')
  const queue = (jobId: string, chatId: string, body: string) =>
    core.commands.execute(streamIds.job(jobId), () => [
      {
        type: 'JobQueued',
        data: {
          jobId,
          sessionId: 'default',
          chatId,
          body,
          priority: 'normal',
          maxAttempts: 5,
          backoffBaseMs: 2000,
          backoffMaxMs: 60_000,
          sendAt: null,
          idempotencyKey: `invoice-42-${PHONE_DIGITS}`,
          at: new Date(clock.now()).toISOString(),
        },
      },
    ])
  const ready = async () => {
    await runtime.sessions.start('default')
    await settle()
    simulator.link('default')
    await settle()
    expect(runtime.sessions.get('default').state()).toBe('ready')
  }
  return { core, clock, newId, runtime, settle, queue, ready }
}

const capture = () => {
  const lines: Record<string, unknown>[] = []
  const log = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) })
  return { lines, log }
}

describe('stripForInspector', () => {
  it('strips the values of keys that carry a recipient or text, whatever their case or separators', () => {
    expect(
      stripForInspector({
        chatId: '6281234567890@c.us',
        body: 'hello',
        phoneNumber: '62812',
        messageId: 'true_x_ABC',
        idempotencyKey: 'order-7',
        chat_id: 'x',
        Phone: 'y',
        lastError: { code: 'NOT_REGISTERED', message: 'x is not on WhatsApp', retryable: false },
        contact: { name: 'Ani', pushname: 'Ani' },
        attempts: 2,
      }),
    ).toEqual({
      chatId: '[stripped]',
      body: '[stripped]',
      phoneNumber: '[stripped]',
      messageId: '[stripped]',
      idempotencyKey: '[stripped]',
      chat_id: '[stripped]',
      Phone: '[stripped]',
      lastError: { code: 'NOT_REGISTERED', message: '[stripped]', retryable: false },
      contact: '[stripped]',
      attempts: 2,
    })
  })

  it('strips any string holding seven digits in a row or a WhatsApp id, under any key and in arrays', () => {
    expect(
      stripForInspector({
        reason: 'send to 081234567 failed',
        note: 'group 1203630@g.us',
        other: 'someone@c.us',
        list: ['ok', 'call +62 812 3456 7890123', { deep: { deeper: 'ref 1234567' } }],
      }),
    ).toEqual({
      reason: '[stripped]',
      note: '[stripped]',
      other: '[stripped]',
      list: ['ok', '[stripped]', { deep: { deeper: '[stripped]' } }],
    })
  })

  it('keeps what identifies nothing private: times, ids, states, short numbers, numbers and nulls', () => {
    const value = {
      at: '2026-01-05T08:00:00.000Z',
      jobId: '01KDZQ4M3NAB7CDEFGHJKMNPQR',
      sessionId: 'default',
      state: 'ready.probing',
      attempt: 'attempt 3 of 5',
      createdAtMs: 1_767_600_000_000,
      phoneNumber: null,
      messageId: null,
      config: { maxPerMinute: 30, onInterrupted: 'retry' },
    }
    expect(stripForInspector(value)).toEqual(value)
  })

  it('copies deeply without touching its input, and cuts cycles', () => {
    const input = { chatId: '62812@c.us', nested: { body: 'text', list: [{ to: 'a' }] } }
    const before = structuredClone(input)
    const copy = stripForInspector(input) as typeof input
    expect(input).toEqual(before)
    expect(copy.nested).not.toBe(input.nested)
    const shared = { n: 1 }
    const cyclic: Record<string, unknown> = { a: shared, b: shared }
    cyclic['self'] = cyclic
    expect(stripForInspector(cyclic)).toEqual({ a: { n: 1 }, b: { n: 1 }, self: '[circular]' })
  })
})

describe('the live inspector (INSPECT=1)', () => {
  it('reports each stream as an actor and each committed event with its folded snapshot, stripped', async () => {
    const dir = tempDir()
    const gw = await openReadyGateway(dir)
    const port = await freePort()
    const { lines, log } = capture()
    const live = await startLiveInspector({
      store: gw.core.store,
      port,
      log,
      streams: [streamIds.session('default'), streamIds.queue('default')],
    })
    closers.push(live.close)
    expect(live.address).toEqual({ host: '127.0.0.1', port })
    expect(live.url).toBe(`http://localhost:${port}`)
    expect(lines).toContainEqual(expect.objectContaining({ url: `http://localhost:${port}`, level: 30 }))
    const page = await listen(port)
    closers.push(async () => page.close())

    await gw.ready()
    const jobId = gw.newId()
    await gw.queue(jobId, `${PHONE_DIGITS}@c.us`, BODY)
    await gw.settle()
    const job = streamIds.job(jobId)
    await page.waitFor((m) => m.type === '@xstate.snapshot' && m.sessionId === job && isState(m, 'completed'))

    const ofJob = page.messages.filter((m) => m.sessionId === job)
    const actor = ofJob.find((m) => m.type === '@xstate.actor') as Message
    expect(actor).toBeDefined()
    expect(JSON.parse(actor['definition'] as string)).toMatchObject({ id: 'job', initial: 'initial' })
    expect((actor['snapshot'] as { value: unknown }).value).toBe('initial')
    expect(ofJob.filter((m) => m.type === '@xstate.event').map((m) => eventType(m))).toEqual([
      'JobQueued',
      'JobAttemptStarted',
      'JobSent',
    ])
    const snapshots = ofJob.filter((m) => m.type === '@xstate.snapshot')
    expect(snapshots.map((m) => (m['snapshot'] as { value: unknown }).value)).toEqual([
      'waiting',
      'active',
      'completed',
    ])
    expect(snapshots.map((m) => eventType(m))).toEqual(['JobQueued', 'JobAttemptStarted', 'JobSent'])
    const done = snapshots.at(-1)?.['snapshot'] as { status: string; context: Record<string, unknown> }
    expect(done.status).toBe('done')
    expect(done.context).toMatchObject({
      jobId,
      attempts: 1,
      chatId: '[stripped]',
      body: '[stripped]',
      messageId: '[stripped]',
      idempotencyKey: '[stripped]',
    })
    // The session was shown at once, then moved to ready; its queue too.
    const session = streamIds.session('default')
    expect(page.messages).toContainEqual(
      expect.objectContaining({ type: '@xstate.actor', sessionId: session }),
    )
    expect(page.messages).toContainEqual(
      expect.objectContaining({ type: '@xstate.actor', sessionId: streamIds.queue('default') }),
    )
    const sessionStates = page.messages
      .filter((m) => m.type === '@xstate.snapshot' && m.sessionId === session)
      .map((m) => stateLabel((m['snapshot'] as { value: unknown }).value))
    expect(sessionStates).toEqual(expect.arrayContaining(['starting', 'qr', 'authenticating']))
    expect(sessionStates.at(-1)).toMatch(/^ready/)

    // Nothing that left the process names the recipient or quotes the message.
    const everything = page.raw.join('\n')
    for (const secret of [PHONE_DIGITS, '81234567890', BODY, 'Invoice 42', '99887766', '@c.us']) {
      expect(everything).not.toContain(secret)
    }

    await live.close()
    await page.closed
    await expect(freePortIsFree(port)).resolves.toBe(true)
  })

  it('listens on the loopback address only', async () => {
    const dir = tempDir()
    const gw = await openReadyGateway(dir)
    const port = await freePort()
    const live = await startLiveInspector({ store: gw.core.store, port, log: silent })
    closers.push(live.close)
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)
    if (outside) await expect(connects(outside.address, port)).resolves.toBe(false)
    await expect(connects('127.0.0.1', port)).resolves.toBe(true)
  })

  it('refuses to start on a port in use, and the process lives on', async () => {
    const dir = tempDir()
    const gw = await openReadyGateway(dir)
    const taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()))
    closers.push(() => new Promise<void>((r) => taken.close(() => r())))
    const address = taken.address()
    const port = typeof address === 'object' && address ? address.port : 0
    await expect(startLiveInspector({ store: gw.core.store, port, log: silent })).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1/,
    )
  })

  it('keeps a bounded number of snapshots and folds a forgotten stream again from the log', async () => {
    const dir = tempDir()
    const gw = await openReadyGateway(dir)
    const port = await freePort()
    const live = await startLiveInspector({ store: gw.core.store, port, log: silent, maxStreams: 2 })
    closers.push(live.close)
    const page = await listen(port)
    closers.push(async () => page.close())
    // Three jobs wait (the session is not ready): each is remembered, the first one is forgotten.
    const ids = [gw.newId(), gw.newId(), gw.newId()]
    for (const id of ids) await gw.queue(id, `${PHONE_DIGITS}@c.us`, BODY)
    await gw.ready()
    await gw.settle()
    const first = streamIds.job(ids[0] as string)
    await page.waitFor(
      (m) => m.type === '@xstate.snapshot' && m.sessionId === first && isState(m, 'completed'),
    )
    const ofFirst = page.messages.filter((m) => m.sessionId === first)
    // Announced when queued, and again (folded from the log, in the state it had reached) once forgotten.
    const actors = ofFirst.filter((m) => m.type === '@xstate.actor')
    expect(actors.slice(0, 2).map((m) => (m['snapshot'] as { value: unknown }).value)).toEqual([
      'initial',
      'waiting',
    ])
    expect(
      ofFirst
        .filter((m) => m.type === '@xstate.snapshot')
        .map((m) => (m['snapshot'] as { value: unknown }).value),
    ).toEqual(['waiting', 'active', 'completed'])
  })
})

describe('without INSPECT', () => {
  // `kurir serve` brings the whole gateway with it: loaded here only.
  const serve = () => import('../../src/cli/serve-command.ts')
  const fakeGateway = (dir: string) => {
    const core = openTestCore(dir)
    closers.push(() => core.close())
    return { core, sessions: { ids: () => ['default'] } }
  }

  it('loads nothing of the inspector and starts nothing', async () => {
    const config = loadConfig({ DATA_DIR: tempDir() })
    expect(config.inspect).toBe(false)
    expect(config.inspectPort).toBe(8080)
    let loaded = false
    vi.doMock('../../src/runtime/live-inspector.ts', () => {
      loaded = true
      return { startLiveInspector: () => Promise.reject(new Error('must not start')) }
    })
    try {
      const { log } = capture()
      await expect(
        (await serve()).startInspectorIfAsked(config, fakeGateway(tempDir()), log),
      ).resolves.toBeNull()
      expect(loaded).toBe(false)
    } finally {
      vi.doUnmock('../../src/runtime/live-inspector.ts')
    }
  })

  it('with INSPECT=1 loads it and starts it on INSPECT_PORT with the sessions and their queues', async () => {
    const config = loadConfig({ DATA_DIR: tempDir(), INSPECT: '1', INSPECT_PORT: '9123' })
    const started: unknown[] = []
    vi.doMock('../../src/runtime/live-inspector.ts', () => ({
      startLiveInspector: (deps: unknown) => {
        started.push(deps)
        return Promise.resolve({ url: 'http://localhost:9123', close: async () => {} })
      },
    }))
    try {
      const { log } = capture()
      await expect(
        (await serve()).startInspectorIfAsked(config, fakeGateway(tempDir()), log),
      ).resolves.not.toBeNull()
      expect(started).toEqual([
        expect.objectContaining({ port: 9123, streams: ['session-default', 'queue-default'] }),
      ])
    } finally {
      vi.doUnmock('../../src/runtime/live-inspector.ts')
    }
  })
})

const isState = (m: Message, state: string) => (m['snapshot'] as { value?: unknown }).value === state
const eventType = (m: Message) => (m['event'] as { type: string }).type

const connects = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = new WebSocket(`ws://${host}:${port}`)
    socket.once('open', () => {
      socket.close()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

const freePortIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
