import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
let api: Awaited<ReturnType<typeof openTestApi>>
let token = ''
let dir = ''

beforeAll(async () => {
  dir = tempDir()
  api = await openTestApi(dir)
  token = (await api.login()).token
  // Failed logins from one address lock it quickly: the fuzzing below spends no time on bcrypt.
})
afterAll(async () => {
  await api.close()
})

const PATHS = [
  '/healthz',
  '/openapi.json',
  '/api/auth/login',
  '/api/auth/refresh',
  '/api/auth/logout',
  '/api/whatsapp/status',
  '/api/events',
  '/api/events/stream',
  '/api/whatsapp/jobs/01J0000000000000000000000A',
  '/api',
  '/',
]

const segment = fc.oneof(
  fc.constantFrom('api', 'auth', 'events', 'whatsapp', '..', '%2e%2e', '%00', 'stream', '', '?', '#'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
const path = fc.oneof(
  fc.constantFrom(...PATHS),
  fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`),
  fc
    .tuple(
      fc.constantFrom(...PATHS),
      fc.dictionary(fc.constantFrom('after', 'limit', 'stream', 'x'), fc.string({ maxLength: 20 })),
    )
    .map(([p, q]) => `${p}?${new URLSearchParams(q)}`),
)
const body = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc
    .record(
      {
        email: fc.oneof(fc.emailAddress(), fc.string({ maxLength: 40 }), fc.integer()),
        password: fc.oneof(fc.string({ maxLength: 80 }), fc.constant(null)),
        refreshToken: fc.oneof(fc.string({ maxLength: 60 }), fc.constant('rt_x')),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
)
const headers = fc.record(
  {
    'Content-Type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/vnd.api+json',
      '',
    ),
    Authorization: fc.oneof(
      fc.constant('VALID'),
      fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
      fc.constantFrom('Bearer', 'Basic Zm9vOmJhcg==', 'Bearer a.b.c', ''),
    ),
    'Last-Event-ID': fc.oneof(fc.string({ maxLength: 20 }), fc.nat().map(String)),
    Origin: fc.constantFrom('https://evil.example', 'null'),
  },
  { requiredKeys: [] },
)
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
  path,
  body,
  headers,
})

describe('the app under random input', () => {
  it('never answers 5xx, and every 4xx is in the error shape', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        runs++
        const h: Record<string, string> = {}
        for (const [k, v] of Object.entries(r.headers)) {
          if (v === '') continue
          h[k] = k === 'Authorization' && v === 'VALID' ? `Bearer ${token}` : v
        }
        const sendBody = r.method !== 'GET' && r.body !== undefined
        let res: Response
        try {
          res = await api.app.request(r.path, {
            method: r.method,
            headers: h,
            ...(sendBody ? { body: r.body as string } : {}),
          })
        } catch (err) {
          // Only the Request constructor may refuse (an invalid header value); the app itself never throws.
          expect(String(err)).toMatch(/Invalid|header|URL/i)
          return
        }
        expect(res.status).toBeLessThan(500)
        if ((res.headers.get('Content-Type') ?? '').includes('text/event-stream')) {
          await res.body?.cancel()
          return
        }
        const text = await res.text()
        if (res.status >= 400) {
          const parsed = JSON.parse(text)
          expect(parsed).toMatchObject({
            success: false,
            error: { code: expect.any(String), message: expect.any(String) },
          })
          expect(Object.keys(parsed.error).sort()).toEqual(['code', 'details', 'message'])
        }
      }),
      { numRuns: 5000 },
    )
    expect(runs).toBeGreaterThanOrEqual(5000)
  }, 120_000)
})
