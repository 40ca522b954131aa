import { afterEach, describe, expect, it } from 'vitest'
import { defaultSessionConfig } from '../../machines/session-machine.ts'
import type { WhatsAppEngine } from '../../src/engines/engine.ts'
import { ADMIN, jsonOf, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

const open = async (options: Parameters<typeof openTestApi>[1] = {}) => {
  const api = await openTestApi(tempDir(), options)
  closers.push(api.close)
  const { token } = await api.login()
  const post = (path: string, body?: unknown) =>
    api.app.request(path, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const del = (path: string) =>
    api.app.request(path, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })
  const get = (path: string) => api.get(path, token)
  const status = async (base = '/api/whatsapp') => {
    await api.settle()
    const res = await get(`${base}/status`)
    expect(res.status).toBe(200)
    return (await jsonOf(res)).session
  }
  const types = async (sessionId = 'default') =>
    (
      (await jsonOf(await get(`/api/events?stream=session-${sessionId}&limit=1000`))) as { type: string }[]
    ).map((e) => e.type)
  return { api, token, post, del, get, status, types }
}

const expectError = async (res: Response, status: number, code: string) => {
  expect(res.status).toBe(status)
  expect(await jsonOf(res)).toMatchObject({ success: false, error: { code } })
}

describe('sessions on the simulator, end to end through HTTP', () => {
  it('shows a QR as JSON and PNG, links, becomes ready, recovers from a dropped connection', async () => {
    const { api, post, get, status, types } = await open()
    await api.sessions.boot()
    expect(await status()).toMatchObject({ state: 'qr', qrWaiting: true })

    const qrRes = await get('/api/whatsapp/qr')
    expect(qrRes.status).toBe(200)
    expect(qrRes.headers.get('Cache-Control')).toBe('no-store')
    const qr = await jsonOf(qrRes)
    expect(qr.qr).toMatch(/^sim:default:/)
    expect(qr.dataUrl).toMatch(/^data:image\/png;base64,/)
    const png = await get('/api/whatsapp/qr?format=png')
    expect(png.headers.get('Content-Type')).toBe('image/png')
    expect([...new Uint8Array(await png.arrayBuffer()).slice(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47])

    expect((await post('/api/whatsapp/simulator/link')).status).toBe(200)
    const ready = await status()
    expect(ready).toMatchObject({ state: 'ready', qrWaiting: false, lastError: null, restarts: 0 })
    expect(ready.phoneNumber).toMatch(/^62811\d{7}$/)
    await expectError(await get('/api/whatsapp/qr'), 409, 'ILLEGAL_STATE')

    expect((await post('/api/whatsapp/simulator/disconnect')).status).toBe(200)
    const down = await status()
    expect(down).toMatchObject({
      state: 'restarting',
      restartAttempts: 1,
      restarts: 1,
      lastError: { code: 'DISCONNECTED', message: 'disconnected: CONNECTION_LOST' },
    })
    const dueMs = Date.parse(down.nextRestartAt) - api.clock.now()
    expect(dueMs).toBeGreaterThan(0)

    api.clock.advance(dueMs - 1)
    expect((await status()).state).toBe('restarting')
    api.clock.advance(1)
    // Linked already: straight back to ready, no new QR.
    const back = await status()
    expect(back).toMatchObject({ state: 'ready', restartAttempts: 0, restarts: 1, lastError: null })
    expect(back.history.map((h: { state: string }) => h.state)).toEqual([
      'stopped',
      'starting',
      'qr',
      'authenticating',
      'ready',
      'restarting',
      'starting',
      'authenticating',
      'ready',
    ])
    expect(back.history[5].error).toMatchObject({ code: 'DISCONNECTED' })

    const log = await types()
    expect(log).toEqual([
      'SessionCreated',
      'SessionStartRequested',
      'SessionQrIssued',
      'SessionAuthenticated',
      'SessionReady',
      'SessionDisconnected',
      'SessionRestartDue',
      'SessionAuthenticated',
      'SessionReady',
    ])
    // The log records that a QR was issued, never the QR itself.
    const raw = await (await get('/api/events?stream=session-default&limit=1000')).text()
    expect(raw).not.toContain(qr.qr)
  })

  it('probes a ready session on its keepalive timer; a hung probe times out and the session restarts', async () => {
    const { api, post, status, types } = await open()
    await api.sessions.create('default', { keepaliveMs: 30_000, probeTimeoutMs: 10_000 })
    await post('/api/whatsapp/start')
    await post('/api/whatsapp/simulator/link')
    expect((await status()).state).toBe('ready')

    api.clock.advance(30_000)
    expect((await status()).state).toBe('ready')
    expect((await types()).slice(-2)).toEqual(['SessionKeepaliveDue', 'SessionProbeSucceeded'])

    api.simulator.setProbe('default', 'hang')
    api.clock.advance(30_000)
    await api.settle()
    api.clock.advance(9_999)
    expect((await status()).state).toBe('ready')
    api.clock.advance(1)
    const timedOut = await status()
    expect(timedOut).toMatchObject({ state: 'restarting', lastError: { code: 'KEEPALIVE_TIMEOUT' } })
    expect((await types()).slice(-3)).toEqual([
      'SessionKeepaliveDue',
      'SessionProbeTimedOut',
      'SessionEngineStopped',
    ])

    api.simulator.setProbe('default', 'ok')
    api.clock.advance(Date.parse(timedOut.nextRestartAt) - api.clock.now())
    expect((await status()).state).toBe('ready')
  })

  it('restarts on a failed probe', async () => {
    const { api, post, status } = await open()
    await api.sessions.create('default')
    await post('/api/whatsapp/start')
    await post('/api/whatsapp/simulator/link')
    expect((await status()).state).toBe('ready')
    api.simulator.setProbe('default', 'fail')
    api.clock.advance(defaultSessionConfig.keepaliveMs)
    expect(await status()).toMatchObject({ state: 'restarting', lastError: { code: 'NETWORK_TIMEOUT' } })
  })

  it('backs off exponentially and gives up after maxRestarts consecutive failures, awaiting an operator', async () => {
    const { api, post, status } = await open()
    const config = { maxRestarts: 3, restartBaseMs: 1_000, restartMaxMs: 60_000 }
    await api.sessions.create('default', config)
    await post('/api/whatsapp/start')
    const delays: number[] = []
    for (let i = 0; i < 3; i++) {
      expect((await status()).state).toBe('qr')
      expect((await post('/api/whatsapp/simulator/disconnect')).status).toBe(200)
      const s = await status()
      expect(s).toMatchObject({ state: 'restarting', restartAttempts: i + 1 })
      const delay = Date.parse(s.nextRestartAt) - api.clock.now()
      delays.push(delay)
      api.clock.advance(delay)
    }
    // Jitter 0.5 keeps each delay at its base: 1 s, 2 s, 4 s.
    expect(delays).toEqual([1_000, 2_000, 4_000])
    expect((await status()).state).toBe('qr')
    expect((await post('/api/whatsapp/simulator/disconnect')).status).toBe(200)
    expect(await status()).toMatchObject({ state: 'failed', restartAttempts: 4 })
    // No timer is left to start it again: it waits (within the access token's 15 minutes here).
    expect(
      api.core.db.prepare("SELECT count(*) FROM timers WHERE stream_id = 'session-default'").pluck().get(),
    ).toBe(0)
    api.clock.advance(10 * 60_000)
    expect((await status()).state).toBe('failed')
    // An operator starts it again, with the count cleared.
    await post('/api/whatsapp/start')
    expect(await status()).toMatchObject({ state: 'qr', restartAttempts: 0 })
  })

  it('needs a new QR after a logout, not a loop of restarts', async () => {
    const { api, post, status } = await open()
    await api.sessions.create('sales')
    await post('/api/sessions/sales/start')
    await post('/api/sessions/sales/simulator/link')
    expect((await status('/api/sessions/sales')).state).toBe('ready')
    expect(api.simulator.isLinked('sales')).toBe(true)

    const res = await post('/api/sessions/sales/logout')
    expect(res.status).toBe(200)
    expect(await status('/api/sessions/sales')).toMatchObject({ state: 'logged_out', phoneNumber: null })
    expect(api.simulator.isLinked('sales')).toBe(false)
    api.clock.advance(10 * 60_000)
    expect((await status('/api/sessions/sales')).state).toBe('logged_out')

    await post('/api/sessions/sales/start')
    expect((await status('/api/sessions/sales')).state).toBe('qr')
  })

  it('resets a ready session: logged out, login removed, a new QR', async () => {
    const { api, post, status } = await open()
    await api.sessions.create('default')
    await post('/api/whatsapp/start')
    await post('/api/whatsapp/simulator/link')
    expect((await status()).phoneNumber).toMatch(/^62811\d{7}$/)
    const res = await post('/api/whatsapp/reset-session')
    expect(res.status).toBe(200)
    // No account is linked until a new scan: the old number is not shown as if it were.
    expect(await status()).toMatchObject({ state: 'qr', qrWaiting: true, phoneNumber: null })
    expect(api.simulator.isLinked('default')).toBe(false)
  })

  it('never runs two engines for one session, even when reset while starting', async () => {
    const { api, post, status } = await open()
    let running = 0
    let most = 0
    const create = api.simulator.create.bind(api.simulator)
    api.simulator.create = (id: string): WhatsAppEngine => {
      const engine = create(id)
      let live = false
      return {
        ...engine,
        on: engine.on.bind(engine),
        async start() {
          live = true
          running++
          most = Math.max(most, running)
          await engine.start()
        },
        async stop() {
          await engine.stop()
          if (live) running--
          live = false
        },
        async logout() {
          await engine.logout()
          if (live) running--
          live = false
        },
      }
    }
    await api.sessions.create('default')
    await post('/api/whatsapp/start')
    // Reset while the engine is still coming up, several times over.
    for (let i = 0; i < 5; i++) expect((await post('/api/whatsapp/reset-session')).status).toBe(200)
    expect((await status()).state).toBe('qr')
    expect(most).toBe(1)
    expect(running).toBe(1)
  })

  it('creates, lists and deletes sessions; a deleted id can be created again', async () => {
    const { api, post, del, get, status } = await open()
    const created = await post('/api/sessions', { id: 'sales', config: { keepaliveMs: 60_000 } })
    expect(created.status).toBe(201)
    expect((await jsonOf(created)).session).toMatchObject({ id: 'sales', state: 'stopped' })
    await post('/api/sessions', { id: 'support' })
    const list = await jsonOf(await get('/api/sessions'))
    expect(list.sessions.map((s: { id: string }) => s.id)).toEqual(['sales', 'support'])

    await post('/api/sessions/sales/start')
    await post('/api/sessions/sales/simulator/link')
    expect((await status('/api/sessions/sales')).state).toBe('ready')
    expect((await del('/api/sessions/sales')).status).toBe(200)
    await api.settle()
    expect(api.simulator.isLinked('sales')).toBe(false)
    await expectError(await get('/api/sessions/sales/status'), 404, 'NOT_FOUND')
    expect((await jsonOf(await get('/api/sessions'))).sessions.map((s: { id: string }) => s.id)).toEqual([
      'support',
    ])
    expect((await post('/api/sessions', { id: 'sales' })).status).toBe(201)
    expect((await status('/api/sessions/sales')).state).toBe('stopped')
  })

  it('refuses to delete the default session, or a session whose messages are unfinished', async () => {
    const { api, post, del, get } = await open()
    await api.sessions.create('default')
    const refused = await del('/api/sessions/default')
    expect(refused.status).toBe(409)
    expect((await jsonOf(refused)).error).toMatchObject({
      code: 'ILLEGAL_STATE',
      message: expect.stringContaining('the default session cannot be deleted'),
    })
    expect((await get('/api/whatsapp/status')).status).toBe(200)

    await post('/api/sessions', { id: 'shop' })
    const sent = await post('/api/sessions/shop/send-message', { number: '081234567890', message: 'invoice' })
    expect(sent.status).toBe(202)
    const pending = await del('/api/sessions/shop')
    expect(pending.status).toBe(409)
    expect((await jsonOf(pending)).error).toMatchObject({
      code: 'ILLEGAL_STATE',
      details: { waiting: 1, delayed: 0, active: 0 },
    })
    expect((await get('/api/sessions/shop/status')).status).toBe(200)
    // Cleared, it goes; a session made later under its name has no message of the old one.
    expect((await post('/api/sessions/shop/queue/clear')).status).toBe(200)
    expect((await del('/api/sessions/shop')).status).toBe(200)
    expect((await post('/api/sessions', { id: 'shop' })).status).toBe(201)
    const queue = (await jsonOf(await get('/api/sessions/shop/status'))).queue
    expect(queue).toMatchObject({ waiting: 0, delayed: 0, active: 0, cancelled: 1 })
    await expectError(await del('/api/sessions/nosuch'), 404, 'NOT_FOUND')
  })

  it('comes back by itself when the process starts again', async () => {
    const dir = tempDir()
    const first = await openTestApi(dir)
    await first.sessions.create('default')
    await first.sessions.start('default')
    await first.settle()
    first.simulator.link('default')
    await first.settle()
    await first.close()

    const second = await openTestApi(dir)
    closers.push(second.close)
    await second.sessions.boot()
    await second.settle()
    expect(second.sessions.get('default').state()).toBe('ready')
    const log = second.core.store.readStream('session-default').map((e) => e.type)
    expect(log.slice(-3)).toEqual(['SessionResumed', 'SessionAuthenticated', 'SessionReady'])
  })
})

describe('sessions: bad input', () => {
  it('answers 404 for an unknown session, 409 for one that exists, 400 for an unsafe id', async () => {
    const { post, get } = await open()
    await expectError(await get('/api/sessions/nope/status'), 404, 'NOT_FOUND')
    await expectError(await post('/api/sessions/nope/start'), 404, 'NOT_FOUND')
    await expectError(await get('/api/sessions/nope/qr'), 404, 'NOT_FOUND')
    expect((await post('/api/sessions', { id: 'sales' })).status).toBe(201)
    await expectError(await post('/api/sessions', { id: 'sales' }), 409, 'CONFLICT')
    for (const id of ['../etc', 'a b', 'x'.repeat(65), '', 'é']) {
      const res = await post('/api/sessions', { id })
      expect(res.status, id).toBe(400)
    }
    await expectError(await get('/api/sessions/a%20b/status'), 400, 'VALIDATION_ERROR')
    await expectError(await get(`/api/sessions/${'x'.repeat(65)}/status`), 400, 'VALIDATION_ERROR')
    await expectError(
      await post('/api/sessions', { id: 'ok', config: { keepaliveMs: 5 } }),
      400,
      'VALIDATION_ERROR',
    )
    await expectError(await post('/api/sessions', { id: 'ok', extra: 1 }), 400, 'VALIDATION_ERROR')
  })

  it('refuses what the state does not allow with 409 and changes nothing', async () => {
    const { api, post, types } = await open()
    await api.sessions.create('default')
    const before = await types()
    await expectError(await post('/api/whatsapp/stop'), 409, 'ILLEGAL_STATE')
    await expectError(await post('/api/whatsapp/simulator/link'), 409, 'ILLEGAL_STATE')
    await expectError(await post('/api/whatsapp/simulator/disconnect'), 409, 'ILLEGAL_STATE')
    expect(await types()).toEqual(before)
  })

  it('lets only an admin manage sessions or see a QR; a sender may read status', async () => {
    const { api } = await open()
    await api.sessions.create('default')
    await api.users.add({ email: 'clerk@example.com', password: 'a long enough password', role: 'sender' })
    const { token } = await api.login({ email: 'clerk@example.com', password: 'a long enough password' })
    const as = (path: string, method = 'POST') =>
      api.app.request(path, { method, headers: { Authorization: `Bearer ${token}` } })
    await expectError(await as('/api/whatsapp/start'), 403, 'FORBIDDEN')
    await expectError(await as('/api/whatsapp/qr', 'GET'), 403, 'FORBIDDEN')
    await expectError(await as('/api/sessions/default', 'DELETE'), 403, 'FORBIDDEN')
    expect((await as('/api/whatsapp/status', 'GET')).status).toBe(200)
    expect(ADMIN.email).not.toBe('clerk@example.com')
  })
})
