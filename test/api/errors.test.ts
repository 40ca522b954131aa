import { spawn } from 'node:child_process'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { SECURITY_HEADERS } from '../../src/api/edge.ts'
import { ADMIN, jsonOf, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const opened: Awaited<ReturnType<typeof openTestApi>>[] = []
afterEach(async () => {
  for (const a of opened.splice(0)) await a.close()
})
const open = async (options: { bodyLimitBytes?: number } = {}) => {
  const api = await openTestApi(tempDir(), options)
  opened.push(api)
  return api
}

const expectError = async (res: Response, status: number, code: string) => {
  expect(res.status).toBe(status)
  const body = await jsonOf(res)
  expect(body).toMatchObject({ success: false, error: { code, message: expect.any(String) } })
  // The one shape holds details always, null when there is nothing to add.
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message'])
  return body
}

const LOCK_HOLDER = new URL('../fixtures/lock-holder.ts', import.meta.url).pathname

describe('one error shape', () => {
  it('answers 503 DATABASE_BUSY with Retry-After while another process holds the database, never a 500', async () => {
    const api = await open()
    await api.login()
    // Another process writes for longer than this gateway waits for the lock (shortened here to 100 ms).
    api.core.db.pragma('busy_timeout = 100')
    const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, api.core.db.name, '1500'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise((resolve) => holder.once('exit', resolve))
    await new Promise<void>((resolve) => holder.stdout.on('data', () => resolve()))
    const busy = await api.app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(ADMIN),
    })
    const body = await expectError(busy, 503, 'DATABASE_BUSY')
    expect(busy.headers.get('Retry-After')).toBe('2')
    expect(body.error.details).toEqual({ retryAfterSeconds: 2 })
    await exited
    // Once the other process is done, the same request goes through.
    expect((await api.login()).token).toEqual(expect.any(String))
  })

  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const api = await open()
    const res = await api.app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"email": "a@b.c", ',
    })
    await expectError(res, 400, 'MALFORMED_JSON')
  })

  it('answers a body that is not JSON with 415', async () => {
    const api = await open()
    const res = await api.app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'email=a&password=b',
    })
    const body = await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect(body.error.details).toEqual({ contentType: 'text/plain' })
    // JSON in a content coding the API does not decode: the same answer, not a parse failure.
    const gzipped = await api.app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ email: 'a@example.com', password: 'b' })),
    })
    const encoded = await expectError(gzipped, 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect(encoded.error.details).toEqual({ contentEncoding: 'gzip' })
  })

  it('answers an over-size body with 413', async () => {
    const api = await open({ bodyLimitBytes: 1024 })
    const res = await api.post('/api/auth/login', { email: 'a@b.c', password: 'x'.repeat(2000) })
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE')
  })

  it('answers schema failures with 400 VALIDATION_ERROR naming the field', async () => {
    const api = await open()
    const body = await expectError(
      await api.post('/api/auth/login', { email: 'a@b.c' }),
      400,
      'VALIDATION_ERROR',
    )
    expect(body.error.message).toMatch(/^password: /)
    expect(body.error.details.issues[0]).toMatchObject({ path: 'password' })
    await expectError(await api.post('/api/auth/login', [1, 2]), 400, 'VALIDATION_ERROR')
  })

  it('validates query strings too', async () => {
    const api = await open()
    const { token } = await api.login()
    await expectError(await api.get('/api/events?limit=0', token), 400, 'VALIDATION_ERROR')
    await expectError(await api.get('/api/events?after=-1', token), 400, 'VALIDATION_ERROR')
    await expectError(await api.get('/api/events?stream=%00', token), 400, 'VALIDATION_ERROR')
    // Decimal digits only: nothing is guessed from a blank, a sign, an exponent, hex or a repeat.
    for (const query of [
      'after=',
      'after=%20',
      'after=-0',
      'limit=0x10',
      'limit=1e3',
      'limit=+5',
      'limit=2&limit=3',
    ])
      await expectError(await api.get(`/api/events?${query}`, token), 400, 'VALIDATION_ERROR')
    await expectError(await api.get('/api/whatsapp/jobs?limit=1e2', token), 400, 'VALIDATION_ERROR')
    await expectError(
      await api.get('/api/streams/queue-default/trace?limit=0x10', token),
      400,
      'VALIDATION_ERROR',
    )
    expect((await api.get('/api/events?after=0&limit=1000', token)).status).toBe(200)
  })

  it('answers unknown routes with 404, and a method a path does not take with 405 and Allow', async () => {
    const api = await open()
    await expectError(await api.app.request('/nowhere'), 404, 'NOT_FOUND')
    const wrongMethod = await api.app.request('/api/auth/login')
    const body = await expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED')
    expect(wrongMethod.headers.get('Allow')).toBe('POST')
    expect(body.error.details).toEqual({ allowed: ['POST'] })
    // Paths with parameters too, each with every method it takes.
    const { token } = await api.login()
    const config = await api.app.request('/api/sessions/sales/queue/config', {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}` },
    })
    expect(config.status).toBe(405)
    expect(config.headers.get('Allow')).toBe('GET, POST')
    expect((await api.app.request('/healthz', { method: 'POST' })).headers.get('Allow')).toBe('GET')
    await expectError(await api.app.request('/openapi.jsonx'), 404, 'NOT_FOUND')
    expect((await jsonOf(await api.app.request('/nowhere'))).error.details).toBeNull()
    // Refused credentials too.
    const refused = await expectError(await api.app.request('/api/whatsapp/status'), 401, 'UNAUTHORIZED')
    expect(refused.error.details).toBeNull()
  })

  it('sets a request id and secure headers on every answer', async () => {
    const api = await open()
    const res = await api.app.request('/healthz')
    expect(res.headers.get('X-Request-Id')).toMatch(/.+/)
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff')
    expect(res.headers.get('X-Frame-Options')).toBe('SAMEORIGIN')
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name)).toBe(value)
    const echoed = await api.app.request('/healthz', { headers: { 'X-Request-Id': 'req-42' } })
    expect(echoed.headers.get('X-Request-Id')).toBe('req-42')
  })

  it('lets a configured origin send and read the headers the API uses', async () => {
    const api = await openTestApi(tempDir(), { corsOrigins: ['https://erp.example'] })
    opened.push(api)
    const preflight = await api.app.request('/api/whatsapp/send-message', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://erp.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type, idempotency-key',
      },
    })
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBe('https://erp.example')
    const allowed = (preflight.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase().split(',')
    for (const header of [
      'authorization',
      'content-type',
      'idempotency-key',
      'last-event-id',
      'x-request-id',
    ])
      expect(allowed).toContain(header)
    const { token } = await api.login()
    const page = await api.app.request('/api/events?limit=1', {
      headers: { Origin: 'https://erp.example', Authorization: `Bearer ${token}` },
    })
    const exposed = (page.headers.get('Access-Control-Expose-Headers') ?? '').toLowerCase().split(',')
    for (const header of ['link', 'retry-after', 'x-request-id']) expect(exposed).toContain(header)
    const other = await api.app.request('/healthz', { headers: { Origin: 'https://evil.example' } })
    expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull()
  })

  it('allows no cross-origin caller by default', async () => {
    const api = await open()
    const res = await api.app.request('/healthz', { headers: { Origin: 'https://evil.example' } })
    expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull()
  })
})
