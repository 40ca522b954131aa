// The dashboard in a real headless Chromium, against a real gateway on the simulator: sign in, see the QR,
// see the session become ready, watch a message sent by a script reach `completed` without a reload,
// open its timeline and its machine diagram, and step the replay slider. Screenshots go to
// test-results/dashboard/.
import { mkdirSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_FLAGS, findChrome } from '../../src/engines/chrome-path.ts'
import {
  GATEWAY_ADMIN,
  type GatewayProcess,
  startGatewayProcess,
  stopGateway,
} from '../support/gateway-process.ts'
import { useTempDir } from '../support/temp-dir.ts'

const SHOTS = new URL('../../test-results/dashboard/', import.meta.url).pathname
const tempDir = useTempDir()

let gw: GatewayProcess
let browser: Browser
let page: Page
const pageErrors: string[] = []

const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true })

const api = async (path: string, body?: unknown) => {
  const res = await fetch(`${gw.base}${path}`, {
    method: 'POST',
    headers: { ...gw.auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  // The session waits for a scan until the test links it.
  gw = await startGatewayProcess(tempDir(), { SIM_LINK_AFTER_MS: '-1' })
  browser = await chromium.launch({
    executablePath: findChrome(process.env['CHROME_PATH']),
    args: [...CHROMIUM_FLAGS],
    headless: true,
  })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text())
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  if (gw) await stopGateway(gw.child)
})

describe('the dashboard', () => {
  it('follows a session and a message live, and replays the job on its machine diagram', async () => {
    await page.goto(`${gw.base}/`)
    await page.locator('#login-form').waitFor()

    // A wrong password says so and signs nobody in.
    await page.fill('#email', GATEWAY_ADMIN.email)
    await page.fill('#password', 'not the password')
    await page.click('#login-form button[type=submit]')
    await expect.poll(() => page.textContent('#login-error')).not.toBe('')
    expect(await page.isHidden('#app-view')).toBe(true)
    // (The browser reports the refused sign-in's 401 on the console; that one is expected.)
    pageErrors.length = 0

    await page.fill('#password', GATEWAY_ADMIN.password)
    await page.click('#login-form button[type=submit]')
    await page.locator('#app-view').waitFor()
    // Marks this document: if the page ever reloaded, the mark would be gone.
    await page.evaluate(() => {
      ;(globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true
    })

    // The QR to scan.
    const session = page.locator('[data-session="default"]')
    const qr = session.locator('.qr img')
    await qr.waitFor()
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
    await expect.poll(() => session.locator('[data-role=state]').textContent()).toBe('qr')
    await page.locator('#live[data-live="on"]').waitFor()
    await shot('1-qr')

    // Scanned (the simulator links): the page sees `ready` from the event stream.
    expect((await api('/api/sessions/default/simulator/link')).status).toBe(200)
    await expect.poll(() => session.locator('[data-role=state]').textContent()).toBe('ready')
    await qr.waitFor({ state: 'detached' })
    await shot('2-ready')

    // A message sent by a script: its job appears and reaches `completed`.
    const sent = await api('/api/whatsapp/send-message', {
      number: '081234567890',
      message: 'Invoice 2026-118 is ready',
    })
    expect(sent.status).toBe(202)
    const jobId = String(sent.body['jobId'])
    const row = page.locator(`tr[data-job="${jobId}"]`)
    await expect
      .poll(() => row.locator('[data-role=status]').textContent(), { timeout: 15_000 })
      .toBe('completed')
    await expect.poll(() => page.textContent('[data-count="completed"]')).toBe('1')
    expect(await page.textContent('[data-stat="success-rate"]')).toBe('100.0%')
    await shot('3-completed')

    // Its timeline from the event log, and its machine with `completed` highlighted.
    await row.click()
    await page.locator('#detail').waitFor()
    await expect.poll(() => page.locator('#timeline li').count()).toBe(3)
    expect(
      await page.locator('#timeline li').evaluateAll((items) => items.map((i) => i.dataset['type'])),
    ).toEqual(['JobQueued', 'JobAttemptStarted', 'JobSent'])
    const active = () =>
      page
        .locator('#diagram g.state.active')
        .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-state')))
    await expect.poll(active).toEqual(['completed'])
    expect(await page.locator('#diagram g.state').count()).toBeGreaterThanOrEqual(7)
    await shot('4-job-machine')

    // The replay slider steps back through the events.
    await page.focus('#replay')
    await page.keyboard.press('Home')
    await expect.poll(active).toEqual(['waiting'])
    expect(await page.textContent('#replay-label')).toContain('event 1 of 3')
    expect(await page.getAttribute('#timeline li.current', 'data-step')).toBe('1')
    await shot('5-replay-step-1')
    await page.keyboard.press('ArrowRight')
    await expect.poll(active).toEqual(['active'])
    await page.keyboard.press('End')
    await expect.poll(active).toEqual(['completed'])
    // The transition that led there is marked too.
    const taken = () =>
      page
        .locator('#diagram g.transition.taken')
        .evaluateAll((nodes) =>
          nodes.map((n) => `${n.getAttribute('data-source')} ${n.getAttribute('data-event')}`),
        )
    expect(await taken()).toEqual(['active JobSent'])

    // The session's machine: `ready` and its child state highlighted.
    await session.getByRole('button', { name: 'machine' }).click()
    // (`idle` between keepalive probes, `probing` during one.)
    await expect.poll(async () => (await active())[0]).toBe('ready')
    expect((await active())[1]).toMatch(/^ready\.(idle|probing)$/)
    await shot('6-session-machine')

    // No reload happened, and the page logged no error.
    expect(await page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(
      true,
    )
    expect(pageErrors).toEqual([])
  }, 90_000)
})
