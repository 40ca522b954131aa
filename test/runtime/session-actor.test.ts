import { afterEach, describe, expect, it } from 'vitest'
import {
  EngineError,
  type EngineEvent,
  type EngineFactory,
  type EngineListener,
  type WhatsAppEngine,
} from '../../src/engines/engine.ts'
import { openRuntime } from '../../src/runtime/open-runtime.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { openTestCore } from '../support/store.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const silent = { debug() {}, info() {}, warn() {}, error() {} }
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/** An engine the test speaks for: it says what the test tells it to, and records what it was asked. */
const scriptedEngines = () => {
  const made: { engine: WhatsAppEngine; emit: (e: EngineEvent) => void; calls: string[] }[] = []
  const discarded: string[] = []
  let failStart: Error | null = null
  const factory: EngineFactory = {
    kind: 'simulator',
    create() {
      const listeners = new Set<EngineListener>()
      const calls: string[] = []
      const engine: WhatsAppEngine = {
        async start() {
          calls.push('start')
          if (failStart) throw failStart
        },
        async stop() {
          calls.push('stop')
        },
        async logout() {
          calls.push('logout')
        },
        getState: async () => 'CONNECTED',
        isRegistered: async () => true,
        sendText: async () => ({ messageId: 'm' }),
        on(listener) {
          listeners.add(listener)
          return () => listeners.delete(listener)
        },
      }
      const emit = (e: EngineEvent) => {
        for (const l of listeners) l(e)
      }
      made.push({ engine, calls, emit })
      return engine
    },
    async discardAuth(sessionId) {
      discarded.push(sessionId)
    },
  }
  return {
    factory,
    made,
    discarded,
    failStartWith: (err: Error | null) => {
      failStart = err
    },
  }
}

const setup = async () => {
  const dir = tempDir()
  const clock = createFakeClock()
  const core = openTestCore(dir, { clock })
  const engines = scriptedEngines()
  const runtime = openRuntime({ core, engines: engines.factory, log: silent, random: () => 0.5 })
  const { scheduler, sessions } = runtime
  closers.push(async () => {
    await runtime.close()
    await core.close()
  })
  const settle = async () => {
    for (let i = 0; i < 10; i++) {
      await sessions.settled()
      await scheduler.idle()
      await new Promise((r) => setImmediate(r))
    }
  }
  const actor = await sessions.create('s1')
  await sessions.start('s1')
  await settle()
  const types = () => core.store.readStream('session-s1').map((e) => e.type)
  return { clock, core, engines, sessions, actor, settle, types }
}

describe('session actor', () => {
  it('goes to logged_out on an auth failure, discards the login, and does not restart', async () => {
    const { clock, engines, actor, settle, types } = await setup()
    const first = engines.made[0]
    first?.emit({ type: 'qr', qr: 'secret' })
    await settle()
    first?.emit({ type: 'auth_failure', message: 'restore failed' })
    await settle()
    expect(actor.state()).toBe('logged_out')
    expect(actor.snapshot().context.lastError).toEqual({ code: 'AUTH_FAILURE', message: 'restore failed' })
    expect(first?.calls).toEqual(['start', 'stop'])
    expect(engines.discarded).toEqual(['s1'])
    clock.advance(3600_000)
    await settle()
    expect(engines.made).toHaveLength(1)
    expect(types().at(-1)).toBe('SessionAuthFailed')
  })

  it('treats a LOGOUT disconnect as the phone unlinking: a new QR is needed', async () => {
    const { engines, actor, settle } = await setup()
    engines.made[0]?.emit({ type: 'ready', phoneNumber: '628123' })
    await settle()
    engines.made[0]?.emit({ type: 'disconnected', reason: 'LOGOUT' })
    await settle()
    expect(actor.state()).toBe('logged_out')
    expect(engines.discarded).toEqual(['s1'])
  })

  it('reports a failed start with the engine error and backs off', async () => {
    const { engines, actor, sessions, settle } = await setup()
    await sessions.stop('s1')
    engines.failStartWith(new EngineError('START_FAILED', 'net::ERR_NAME_NOT_RESOLVED'))
    await sessions.start('s1')
    await settle()
    expect(actor.state()).toBe('restarting')
    expect(actor.snapshot().context.lastError).toEqual({
      code: 'START_FAILED',
      message: 'net::ERR_NAME_NOT_RESOLVED',
    })
  })

  it('ignores what an engine says once it has been replaced', async () => {
    const { engines, actor, sessions, settle, types } = await setup()
    const old = engines.made[0]
    await sessions.reset('s1')
    await settle()
    expect(engines.made).toHaveLength(2)
    expect(old?.calls).toEqual(['start', 'logout'])
    const before = types()
    old?.emit({ type: 'ready', phoneNumber: '628999' })
    old?.emit({ type: 'disconnected', reason: 'CONFLICT' })
    await settle()
    expect(types()).toEqual(before)
    expect(actor.state()).toBe('starting')
  })

  it('keeps the QR in memory only while the session waits for a scan', async () => {
    const { engines, actor, settle, core } = await setup()
    engines.made[0]?.emit({ type: 'qr', qr: 'the-secret-qr' })
    await settle()
    expect(actor.qr()?.qr).toBe('the-secret-qr')
    const raw = JSON.stringify(core.store.readStream('session-s1'))
    expect(raw).not.toContain('the-secret-qr')
    engines.made[0]?.emit({ type: 'authenticated' })
    await settle()
    expect(actor.qr()).toBeNull()
  })
})
