// The machines over HTTP: their diagrams drawn from the definitions, and a stream replayed step by step
// with the state after each event (what the dashboard's replay slider shows). Plus the dashboard's files.
import { afterEach, describe, expect, it } from 'vitest'
import { DASHBOARD_CSP } from '../../src/api/dashboard-routes.ts'
import { jsonOf, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

const open = async () => {
  const api = await openTestApi(tempDir())
  closers.push(api.close)
  const { token } = await api.login()
  const auth = { Authorization: `Bearer ${token}` }
  const get = (path: string) => api.app.request(path, { headers: auth })
  return { api, auth, get }
}

interface Step {
  type: string
  before: string
  after: string
  activeStates: string[]
  accepted: boolean
  effects: string[]
  machineEvent: string
  timers: string[]
  version: number
}

describe('GET /api/machines', () => {
  it('lists the three machines with every state of their definitions', async () => {
    const { get } = await open()
    const res = await get('/api/machines')
    expect(res.status).toBe(200)
    const { machines } = (await jsonOf(res)) as {
      machines: { name: string; version: number; states: string[] }[]
    }
    expect(machines.map((m) => m.name)).toEqual(['job', 'session', 'queue'])
    const job = machines.find((m) => m.name === 'job')
    expect(job?.states).toEqual(
      expect.arrayContaining(['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled']),
    )
    const session = machines.find((m) => m.name === 'session')
    expect(session?.states).toEqual(expect.arrayContaining(['qr', 'ready', 'ready.idle', 'ready.probing']))
  })

  it('draws each machine as SVG with one g.state per state', async () => {
    const { get } = await open()
    const list = (await jsonOf(await get('/api/machines'))) as {
      machines: { name: string; states: string[] }[]
    }
    for (const machine of list.machines) {
      const res = await get(`/api/machines/${machine.name}/diagram.svg`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/)
      const svg = await res.text()
      expect(svg.startsWith('<svg')).toBe(true)
      for (const state of machine.states) expect(svg).toContain(`data-state="${state}"`)
    }
  })

  it('answers 400 for an unknown machine and 401 without a token', async () => {
    const { api, get } = await open()
    expect((await get('/api/machines/nope/diagram.svg')).status).toBe(400)
    expect((await api.app.request('/api/machines')).status).toBe(401)
    expect((await api.app.request('/api/machines/job/diagram.svg')).status).toBe(401)
    expect((await api.app.request('/api/streams/session-default/trace')).status).toBe(401)
  })
})

describe('GET /api/streams/{streamId}/trace', () => {
  it("replays a sent message's job: each event with the state before and after it", async () => {
    const { api, auth, get } = await open()
    await api.sessions.create('default')
    await api.sessions.start('default')
    await api.settle()
    api.simulator.link('default')
    await api.settle()
    const res = await api.app.request('/api/whatsapp/send-message', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ number: '081234567890', message: 'Your invoice is ready' }),
    })
    expect(res.status).toBe(202)
    const { jobId } = (await jsonOf(res)) as { jobId: string }
    await api.settle()

    const trace = (await jsonOf(await get(`/api/streams/job-${jobId}/trace`))) as {
      machine: string
      total: number
      steps: Step[]
    }
    expect(trace.machine).toBe('job')
    expect(trace.steps.map((s) => s.type)).toEqual(['JobQueued', 'JobAttemptStarted', 'JobSent'])
    expect(trace.steps.map((s) => `${s.before} → ${s.after}`)).toEqual([
      'initial → waiting',
      'waiting → active',
      'active → completed',
    ])
    expect(trace.steps.map((s) => s.version)).toEqual([1, 2, 3])
    expect(trace.steps.map((s) => s.machineEvent)).toEqual(['JobQueued', 'JobAttemptStarted', 'JobSent'])
    expect(trace.steps.at(-1)?.activeStates).toEqual(['completed'])
    expect(trace.steps.every((s) => s.accepted)).toBe(true)
    expect(trace.total).toBe(3)

    // The session's stream: its compound `ready` state shows with its child.
    const session = (await jsonOf(await get('/api/streams/session-default/trace'))) as { steps: Step[] }
    expect(session.steps.at(-1)?.activeStates).toEqual(['ready', 'ready.idle'])
    expect(session.steps.some((s) => s.timers.some((t) => t.startsWith('armed keepalive')))).toBe(true)

    // A timer's fact is the machine's delayed transition, as the diagram names it.
    api.clock.advance(60_000)
    await api.settle()
    const later = (await jsonOf(await get('/api/streams/session-default/trace'))) as { steps: Step[] }
    const due = later.steps.find((s) => s.type === 'SessionKeepaliveDue')
    expect(due?.machineEvent).toMatch(/^xstate\.after\.keepalive\./)
    const svg = await (await get('/api/machines/session/diagram.svg')).text()
    expect(svg).toContain(`data-event="${due?.machineEvent}"`)

    // The last steps only, when asked.
    const last = (await jsonOf(await get(`/api/streams/job-${jobId}/trace?limit=1`))) as {
      total: number
      steps: Step[]
    }
    expect(last.total).toBe(3)
    expect(last.steps.map((s) => s.type)).toEqual(['JobSent'])
  })

  it('answers 404 for a stream with no events and 400 for a malformed id', async () => {
    const { get } = await open()
    const missing = await get('/api/streams/job-01J0000000000000000000000Z/trace')
    expect(missing.status).toBe(404)
    expect(await jsonOf(missing)).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } })
    const bad = await get('/api/streams/..%2Fetc/trace')
    expect(bad.status).toBe(400)
    expect((await get('/api/streams/robot-1/trace')).status).toBe(400)
    expect((await get('/api/streams/job-1/trace?limit=0')).status).toBe(400)
  })
})

describe('the dashboard files', () => {
  it('serves the page at / and its script and styles, with a strict content security policy', async () => {
    const { api } = await open()
    const page = await api.app.request('/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
    const html = await page.text()
    expect(html).toContain('<script type="module" src="/dashboard/app.js">')
    for (const [path, type] of [
      ['/dashboard/app.js', /^text\/javascript/],
      ['/dashboard/style.css', /^text\/css/],
      ['/dashboard/favicon.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await api.app.request(path)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(type)
    }
    expect((await api.app.request('/dashboard/nothing.js')).status).toBe(404)
  })
})
