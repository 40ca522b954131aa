// The simulator engine: linking, the phone's controls, state probes and the send rules, on a fake clock over
// real folders.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EngineError, type EngineEvent, type WhatsAppEngine } from '../../src/engines/engine.ts'
import {
  createSimulator,
  type Simulator,
  type SimulatorDeps,
  SimulatorError,
} from '../../src/engines/simulator.ts'
import { createFakeClock, type FakeClock } from '../support/fake-clock.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

type Options = Pick<SimulatorDeps, 'linkAfterMs' | 'sendLatencyMs'>

const setup = (options: Options = {}, dataDir = tempDir(), clock: FakeClock = createFakeClock()) => {
  let n = 0
  const sim = createSimulator({ dataDir, clock, newId: () => `ID${++n}`, ...options })
  return { sim, clock, dataDir }
}

/** Every event the engine emits from now on. */
const record = (engine: WhatsAppEngine): EngineEvent[] => {
  const events: EngineEvent[] = []
  engine.on((event) => events.push(event))
  return events
}
const types = (events: EngineEvent[]) => events.map((e) => e.type)

/** Lets queued microtasks (event emission, promise reactions) run; time does not move. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

/** The error a promise rejects with; fails the test when it resolves. */
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
    },
    (err: unknown) => err,
  )

/** Whether a promise has settled by now. */
const tracked = (promise: Promise<unknown>) => {
  const state = { settled: false }
  promise.then(
    () => {
      state.settled = true
    },
    () => {
      state.settled = true
    },
  )
  return state
}

const sentLines = (dataDir: string): unknown[] => {
  const file = join(dataDir, 'simulator', 'sent.ndjson')
  if (!existsSync(file)) return []
  const text = readFileSync(file, 'utf8')
  expect(text === '' || text.endsWith('\n')).toBe(true)
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line))
}

/** An engine of `sessionId` that has reached ready (linking it through the simulator's control). */
const readyEngine = async (sim: Simulator, sessionId = 'sales') => {
  const engine = sim.create(sessionId)
  const events = record(engine)
  await engine.start()
  await settle()
  if (events.at(-1)?.type === 'qr') sim.link(sessionId)
  expect(events.at(-1)?.type).toBe('ready')
  return { engine, events }
}

describe('linking', () => {
  it('shows a QR after start resolves and links itself when the clock reaches linkAfterMs', async () => {
    const { sim, clock, dataDir } = setup()
    const engine = sim.create('sales')
    const events = record(engine)

    const starting = engine.start()
    expect(events).toEqual([])
    await starting
    await settle()
    expect(events).toEqual([{ type: 'qr', qr: 'sim:sales:1:ID1' }])

    clock.advance(999)
    expect(types(events)).toEqual(['qr'])
    expect(sim.isLinked('sales')).toBe(false)

    clock.advance(1)
    expect(types(events)).toEqual(['qr', 'authenticated', 'state', 'ready'])
    expect(events[2]).toEqual({ type: 'state', state: 'CONNECTED' })
    const ready = events[3] as Extract<EngineEvent, { type: 'ready' }>
    expect(ready.phoneNumber).toMatch(/^62811\d{7}$/)
    expect(sim.isLinked('sales')).toBe(true)
    expect(readFileSync(join(dataDir, 'simulator', 'linked', 'sales'), 'utf8')).toBe(ready.phoneNumber)
  })

  it('with linkAfterMs -1 waits for link() however long the clock runs', async () => {
    const { sim, clock } = setup({ linkAfterMs: -1 })
    const engine = sim.create('sales')
    const events = record(engine)
    await engine.start()
    await settle()

    clock.advance(24 * 60 * 60 * 1000)
    expect(types(events)).toEqual(['qr'])
    expect(clock.pending()).toBe(0)

    sim.link('sales')
    expect(types(events)).toEqual(['qr', 'authenticated', 'state', 'ready'])
    expect(sim.isLinked('sales')).toBe(true)
  })

  it('refuses link() with NOT_WAITING_FOR_SCAN when no running engine of the session shows a QR', async () => {
    const { sim } = setup({ linkAfterMs: -1 })
    const expectRefused = () => {
      const err = (() => {
        try {
          sim.link('sales')
        } catch (e) {
          return e
        }
        return undefined
      })()
      expect(err).toBeInstanceOf(SimulatorError)
      expect(err).toMatchObject({ code: 'NOT_WAITING_FOR_SCAN' })
    }

    expectRefused() // nothing created
    const engine = sim.create('sales')
    expectRefused() // created, not started
    await engine.start()
    await settle()
    sim.link('sales')
    expectRefused() // already ready
  })

  it('brings a linked session straight to ready on its next engine, without a QR', async () => {
    const { sim } = setup()
    const first = await readyEngine(sim)
    await first.engine.stop()

    const engine = sim.create('sales')
    const events = record(engine)
    await engine.start()
    await settle()
    expect(events).toEqual([
      { type: 'authenticated' },
      { type: 'state', state: 'CONNECTED' },
      { type: 'ready', phoneNumber: first.events.find((e) => e.type === 'ready')?.phoneNumber },
    ])
  })

  it('keeps the link for a brand-new simulator over the same data folder, as after a restart', async () => {
    const dataDir = tempDir()
    const before = setup({}, dataDir)
    const { events: firstEvents } = await readyEngine(before.sim)

    const after = setup({ linkAfterMs: -1 }, dataDir)
    expect(after.sim.isLinked('sales')).toBe(true)
    const engine = after.sim.create('sales')
    const events = record(engine)
    await engine.start()
    await settle()
    expect(types(events)).toEqual(['authenticated', 'state', 'ready'])
    expect(events.at(-1)).toEqual(firstEvents.at(-1))
  })

  it('gives other sessions other numbers', async () => {
    const { sim } = setup()
    const a = await readyEngine(sim, 'sales')
    const b = await readyEngine(sim, 'support')
    expect(a.events.at(-1)).not.toEqual(b.events.at(-1))
  })

  it('forgets the link on logout, silently, so the next engine shows a QR', async () => {
    const { sim } = setup()
    const { engine, events } = await readyEngine(sim)
    const heard = events.length

    await engine.logout()
    expect(events).toHaveLength(heard)
    expect(sim.isLinked('sales')).toBe(false)

    const next = sim.create('sales')
    const nextEvents = record(next)
    await next.start()
    await settle()
    expect(types(nextEvents)).toEqual(['qr'])
    expect(nextEvents[0]).toMatchObject({ qr: expect.stringMatching(/^sim:sales:2:/) })
  })

  it('forgets the link on discardAuth, and discarding a link that is not there is no error', async () => {
    const { sim } = setup()
    const { engine } = await readyEngine(sim)
    await engine.stop()

    await sim.discardAuth('sales')
    expect(sim.isLinked('sales')).toBe(false)
    await expect(sim.discardAuth('sales')).resolves.toBeUndefined()
    await expect(sim.discardAuth('never-linked')).resolves.toBeUndefined()
  })

  it('runs each engine once: a second start and a start after stop reject with START_FAILED', async () => {
    const { sim } = setup()
    const engine = sim.create('sales')
    await engine.start()
    expect(await rejection(engine.start())).toMatchObject({ code: 'START_FAILED' })

    const stopped = sim.create('sales')
    await stopped.stop()
    const err = await rejection(stopped.start())
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ code: 'START_FAILED' })
  })

  it('addresses the newest started engine of a session, and an older one stopping leaves it in place', async () => {
    const { sim } = setup({ linkAfterMs: -1 })
    const older = sim.create('sales')
    const newer = sim.create('sales')
    const olderEvents = record(older)
    const newerEvents = record(newer)
    await older.start()
    await newer.start()
    await settle()

    await older.stop()
    sim.link('sales')
    expect(types(newerEvents)).toEqual(['qr', 'authenticated', 'state', 'ready'])
    expect(types(olderEvents)).toEqual(['qr'])
  })
})

describe('disconnect', () => {
  it('drops the running engine with CONNECTION_LOST, keeps the link, and the engine refuses sends', async () => {
    const { sim } = setup()
    const { engine, events } = await readyEngine(sim)

    sim.disconnect('sales')
    expect(events.at(-1)).toEqual({ type: 'disconnected', reason: 'CONNECTION_LOST' })
    expect(sim.isLinked('sales')).toBe(true)
    expect(await rejection(engine.sendText('628123456789@c.us', 'hi'))).toMatchObject({
      code: 'SESSION_CLOSED',
      retryable: true,
    })
    expect(await rejection(engine.getState())).toMatchObject({ code: 'SESSION_CLOSED' })
    expect(() => sim.disconnect('sales')).toThrow(expect.objectContaining({ code: 'NOT_RUNNING' }))
  })

  it('refuses with NOT_RUNNING when no engine of the session runs', async () => {
    const { sim } = setup()
    const err = (() => {
      try {
        sim.disconnect('sales')
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(SimulatorError)
    expect(err).toMatchObject({ code: 'NOT_RUNNING' })

    const { engine } = await readyEngine(sim)
    await engine.stop()
    expect(() => sim.disconnect('sales')).toThrow(expect.objectContaining({ code: 'NOT_RUNNING' }))
  })
})

describe('state probe', () => {
  it('answers OPENING while waiting for a scan and CONNECTED once ready', async () => {
    const { sim, clock } = setup()
    const engine = sim.create('sales')
    await engine.start()
    await settle()
    await expect(engine.getState()).resolves.toBe('OPENING')
    clock.advance(1000)
    await expect(engine.getState()).resolves.toBe('CONNECTED')
  })

  it('rejects with a retryable NETWORK_TIMEOUT while the probe is set to fail, and recovers on ok', async () => {
    const { sim } = setup()
    const { engine } = await readyEngine(sim)
    sim.setProbe('sales', 'fail')
    const err = await rejection(engine.getState())
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ code: 'NETWORK_TIMEOUT', retryable: true })
    sim.setProbe('sales', 'ok')
    await expect(engine.getState()).resolves.toBe('CONNECTED')
  })

  it('never settles while the probe is set to hang', async () => {
    const { sim, clock } = setup()
    const { engine } = await readyEngine(sim)
    const answered = tracked(engine.getState())
    await settle()
    expect(answered.settled).toBe(true)

    sim.setProbe('sales', 'hang')
    const hanging = tracked(engine.getState())
    await settle()
    clock.advance(60_000)
    await settle()
    expect(hanging.settled).toBe(false)
  })

  it('rejects with SESSION_CLOSED after stop', async () => {
    const { sim } = setup()
    const { engine } = await readyEngine(sim)
    await engine.stop()
    expect(await rejection(engine.getState())).toMatchObject({ code: 'SESSION_CLOSED' })
  })
})

describe('sending', () => {
  it('rejects chat ids that are neither <digits>@c.us nor a group id with INVALID_NUMBER', async () => {
    const { sim } = setup()
    const { engine } = await readyEngine(sim)
    for (const chatId of ['628123456789', '+628123456789@c.us', '62812abc@c.us', 'sales@g.us']) {
      expect(await rejection(engine.sendText(chatId, 'hi'))).toMatchObject({
        code: 'INVALID_NUMBER',
        retryable: false,
      })
      expect(await rejection(engine.isRegistered(chatId))).toMatchObject({ code: 'INVALID_NUMBER' })
    }
  })

  it('sends to a group, whatever digits its id ends with', async () => {
    const { sim, dataDir } = setup()
    const { engine } = await readyEngine(sim)
    for (const chatId of ['120363012345678900@g.us', '6281234560001-1612345678@g.us']) {
      expect(await engine.isRegistered(chatId)).toBe(true)
      expect((await engine.sendText(chatId, 'to the group')).messageId).toContain(chatId)
    }
    const lines = readFileSync(join(dataDir, 'simulator', 'sent.ndjson'), 'utf8')
      .trim()
      .split('\n')
    expect(lines.map((l) => JSON.parse(l).chatId)).toEqual([
      '120363012345678900@g.us',
      '6281234560001-1612345678@g.us',
    ])
  })

  it('refuses to send before the engine is ready with a retryable NOT_READY', async () => {
    const { sim, dataDir } = setup()
    const engine = sim.create('sales')
    await engine.start()
    await settle()
    expect(await rejection(engine.sendText('628123456789@c.us', 'hi'))).toMatchObject({
      code: 'NOT_READY',
      retryable: true,
    })
    expect(sentLines(dataDir)).toEqual([])
  })

  it('treats numbers ending 0000 as not on WhatsApp: not registered, and sends fail for good', async () => {
    const { sim, dataDir } = setup()
    const { engine } = await readyEngine(sim)
    await expect(engine.isRegistered('628120000@c.us')).resolves.toBe(false)
    await expect(engine.isRegistered('628120001@c.us')).resolves.toBe(true)
    await expect(engine.isRegistered('628123456789@c.us')).resolves.toBe(true)
    const err = await rejection(engine.sendText('628120000@c.us', 'hi'))
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ code: 'NOT_REGISTERED', retryable: false })
    expect(sentLines(dataDir)).toEqual([])
  })

  it('times out every send to a number ending 0001, retryably', async () => {
    const { sim, dataDir } = setup()
    const { engine } = await readyEngine(sim)
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await rejection(engine.sendText('628120001@c.us', 'hi'))).toMatchObject({
        code: 'NETWORK_TIMEOUT',
        retryable: true,
      })
    }
    expect(sentLines(dataDir)).toEqual([])
  })

  it('times out the first attempt of every message to a number ending 0002, and no later attempt', async () => {
    const { sim, dataDir } = setup()
    const first = await readyEngine(sim)
    expect(await rejection(first.engine.sendText('628120002@c.us', 'one'))).toMatchObject({
      code: 'NETWORK_TIMEOUT',
      retryable: true,
    })
    await first.engine.stop()

    // The attempt decides, not the engine run or the chat: a retry on a new engine goes through, and
    // another message to the same chat times out on its first attempt as the first one did.
    const { engine } = await readyEngine(sim)
    await expect(engine.sendText('628120002@c.us', 'one', { attempt: 2 })).resolves.toMatchObject({
      messageId: expect.any(String),
    })
    expect(await rejection(engine.sendText('628120002@c.us', 'two', { attempt: 1 }))).toMatchObject({
      code: 'NETWORK_TIMEOUT',
    })
    await expect(engine.sendText('628120002@c.us', 'two', { attempt: 3 })).resolves.toMatchObject({
      messageId: expect.any(String),
    })
    expect(sentLines(dataDir)).toMatchObject([{ body: 'one' }, { body: 'two' }])
  })

  it('times out a message to …0002 once: a manual retry, counted from attempt 1 again, goes through', async () => {
    const { sim } = setup()
    const { engine } = await readyEngine(sim)
    const job = { jobId: '01JTEST0000000000000000001', attempt: 1 }
    expect(await rejection(engine.sendText('628120002@c.us', 'one', job))).toMatchObject({
      code: 'NETWORK_TIMEOUT',
    })
    await expect(engine.sendText('628120002@c.us', 'one', job)).resolves.toMatchObject({
      messageId: expect.any(String),
    })
    // Another message's first attempt still times out.
    expect(
      await rejection(
        engine.sendText('628120002@c.us', 'two', { ...job, jobId: '01JTEST0000000000000000002' }),
      ),
    ).toMatchObject({ code: 'NETWORK_TIMEOUT' })
  })

  it('sends to any other number and then acknowledges it at level 1', async () => {
    const { sim, clock } = setup()
    const { engine, events } = await readyEngine(sim)
    const pendingTimers = clock.pending()

    const sent = await engine.sendText('628123456789@c.us', 'hi')
    expect(sent.messageId).toMatch(/^true_628123456789@c\.us_ID\d+$/)
    expect(clock.pending()).toBe(pendingTimers)
    await settle()
    expect(events.at(-1)).toEqual({ type: 'ack', messageId: sent.messageId, ack: 1 })
  })

  it('writes exactly the sent messages to sent.ndjson, one JSON line each, on disk when the send resolves', async () => {
    const { sim, clock, dataDir } = setup()
    const { engine } = await readyEngine(sim)

    const a = await engine.sendText('628123456789@c.us', 'first')
    const onDisk = sentLines(dataDir)
    await rejection(engine.sendText('628120000@c.us', 'nobody'))
    await rejection(engine.sendText('628120001@c.us', 'lost'))
    clock.advance(5_000)
    const b = await engine.sendText('628987654321@c.us', 'second\nline "quoted"')

    expect(onDisk).toHaveLength(1)
    expect(sentLines(dataDir)).toEqual([
      {
        messageId: a.messageId,
        chatId: '628123456789@c.us',
        body: 'first',
        at: new Date(clock.now() - 5_000).toISOString(),
      },
      {
        messageId: b.messageId,
        chatId: '628987654321@c.us',
        body: 'second\nline "quoted"',
        at: new Date(clock.now()).toISOString(),
      },
    ])
  })

  it('holds a send for sendLatencyMs on the clock', async () => {
    const { sim, clock, dataDir } = setup({ sendLatencyMs: 500 })
    const { engine } = await readyEngine(sim)

    const sending = engine.sendText('628123456789@c.us', 'hi')
    const progress = tracked(sending)
    await settle()
    clock.advance(499)
    await settle()
    expect(progress.settled).toBe(false)
    expect(sentLines(dataDir)).toEqual([])

    clock.advance(1)
    await expect(sending).resolves.toMatchObject({ messageId: expect.any(String) })
    expect(sentLines(dataDir)).toHaveLength(1)
  })
})

describe('stop', () => {
  it('is idempotent and silences the engine: no link, no events, no timers left', async () => {
    const { sim, clock } = setup()
    const engine = sim.create('sales')
    const events = record(engine)
    await engine.start()
    await settle()
    expect(clock.pending()).toBe(1)

    await engine.stop()
    await engine.stop()
    clock.advance(10_000)
    await settle()
    expect(types(events)).toEqual(['qr'])
    expect(clock.pending()).toBe(0)
    expect(sim.isLinked('sales')).toBe(false)
    expect(() => sim.link('sales')).toThrow(expect.objectContaining({ code: 'NOT_WAITING_FOR_SCAN' }))
  })

  it('before the first events come, keeps them from coming', async () => {
    const { sim } = setup()
    const engine = sim.create('sales')
    const events = record(engine)
    const starting = engine.start()
    await engine.stop()
    await starting
    await settle()
    expect(events).toEqual([])
  })

  it('rejects a send waiting out its latency with SESSION_CLOSED and writes nothing', async () => {
    const { sim, clock, dataDir } = setup({ sendLatencyMs: 500 })
    const { engine, events } = await readyEngine(sim)
    const heard = events.length

    const sending = engine.sendText('628123456789@c.us', 'hi')
    const outcome = rejection(sending)
    const progress = tracked(sending)
    await settle()
    await engine.stop()
    await settle()
    expect(progress.settled).toBe(true)
    expect(await outcome).toMatchObject({ code: 'SESSION_CLOSED', retryable: true })
    clock.advance(1_000)
    await settle()
    expect(sentLines(dataDir)).toEqual([])
    expect(events).toHaveLength(heard)
  })
})

describe('listeners', () => {
  it('a throwing listener keeps neither the engine nor the other listeners from going on', async () => {
    const { sim, clock } = setup()
    const engine = sim.create('sales')
    engine.on(() => {
      throw new Error('listener bug')
    })
    const events = record(engine)
    await engine.start()
    await settle()
    clock.advance(1000)
    expect(types(events)).toEqual(['qr', 'authenticated', 'state', 'ready'])
    await expect(engine.getState()).resolves.toBe('CONNECTED')
  })

  it('stops hearing events once unsubscribed', async () => {
    const { sim, clock } = setup()
    const engine = sim.create('sales')
    const heard: EngineEvent[] = []
    const off = engine.on((event) => heard.push(event))
    await engine.start()
    await settle()
    off()
    clock.advance(1000)
    expect(types(heard)).toEqual(['qr'])
  })
})
