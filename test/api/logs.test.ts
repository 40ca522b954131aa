import { afterEach, describe, expect, it } from 'vitest'
import { createLogger, unredacted } from '../../src/logger.ts'
import { ADMIN, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

// The logger as the gateway makes it, writing into an array.
const capture = () => {
  const lines: string[] = []
  const log = createLogger('debug', { write: (line: string) => lines.push(line) })
  return { lines, log, accessLog: unredacted(log) }
}

describe('logs', () => {
  it('are JSON lines, one per request with its request id, and never hold a password or a token', async () => {
    const { lines, log, accessLog } = capture()
    const api = await openTestApi(tempDir(), { log, accessLog })
    await api.core.store.append('queue-default', [{ type: 'QueuePaused', data: { at: 'now' } }], {
      expectedVersion: 'no_stream',
    })
    const wrongPassword = 'not the password at all'
    const answers: Response[] = []
    answers.push(await api.post('/api/auth/login', { email: ADMIN.email, password: wrongPassword }))
    answers.push(
      await api.app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: `{"email": "${ADMIN.email}", "password": "${ADMIN.password}"`,
      }),
    )
    const login = await api.post('/api/auth/login', ADMIN)
    answers.push(login)
    const first = (await login.clone().json()) as { token: string; refreshToken: string }
    const refreshed = await api.post('/api/auth/refresh', { refreshToken: first.refreshToken })
    answers.push(refreshed)
    const second = (await refreshed.clone().json()) as { token: string; refreshToken: string }
    answers.push(await api.get('/api/events?stream=queue-default&limit=1', second.token))
    const messageBody = 'the text of a private message'
    answers.push(
      await api.post(
        '/api/whatsapp/send-message',
        { number: '0812-3456-7890', message: messageBody },
        { Authorization: `Bearer ${second.token}` },
      ),
    )
    answers.push(await api.get('/api/events', `${second.token}x`))
    answers.push(
      await api.post(
        '/api/auth/logout',
        { refreshToken: second.refreshToken },
        { Authorization: `Bearer ${second.token}` },
      ),
    )
    expect(answers.map((a) => a.status)).toEqual([401, 400, 200, 200, 200, 202, 401, 200])

    const secrets = [
      messageBody,
      ADMIN.password,
      wrongPassword,
      first.token,
      first.refreshToken,
      second.token,
      second.refreshToken,
    ]
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow()
      for (const secret of secrets) expect(line).not.toContain(secret)
    }
    const access = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'request')
    expect(access.map((l) => l['reqId'])).toEqual(answers.map((a) => a.headers.get('X-Request-Id')))
    expect(access.map((l) => l['status'])).toEqual(answers.map((a) => a.status))
    // The path only: a query string could carry anything.
    expect(access.map((l) => l['path'])).toContain('/api/events')
    expect(lines.join('')).not.toContain('stream=queue-default')
    const queued = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'message queued')
    expect(queued).toMatchObject({ sessionId: 'default', priority: 'normal', jobId: expect.any(String) })
    await api.close()
  })

  it("tell each message's life at info — queued, processing, contact validated, sending, sent or failed with its class — and never its body", async () => {
    const { lines, log } = capture()
    const api = await openTestApi(tempDir(), { log, accessLog: unredacted(log), runtimeLog: log })
    closers.push(api.close)
    const { token } = await api.login()
    const send = async (number: string, message: string) => {
      const res = await api.post(
        '/api/whatsapp/send-message',
        { number, message },
        { Authorization: `Bearer ${token}` },
      )
      expect(res.status).toBe(202)
      return ((await res.json()) as { jobId: string }).jobId
    }
    const bodies = {
      sent: 'Your one-time code is 482913',
      notOnWhatsApp: 'Invoice 7 for a number that is not on WhatsApp',
      timedOut: 'Reminder: the school trip is on Friday',
    }
    const sent = await send('0812-3456-7890', bodies.sent)
    // By the simulator's rules: …0000 is not on WhatsApp; …0002 times out on its first attempt only.
    const notOnWhatsApp = await send('0812-3456-0000', bodies.notOnWhatsApp)
    const timedOut = await send('0812-3456-0002', bodies.timedOut)
    await api.ready()
    // The retry after the first timeout waits for its backoff (2 s, give or take its jitter).
    api.clock.advance(5000)
    await api.settle()

    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const lifeOf = (jobId: string) =>
      parsed
        .filter((l) => l['jobId'] === jobId)
        .map(({ msg, level, attempt, priority, onWhatsApp, cached, errorClass, code }) => ({
          msg,
          level,
          ...(attempt === undefined ? {} : { attempt }),
          ...(priority === undefined ? {} : { priority }),
          ...(onWhatsApp === undefined ? {} : { onWhatsApp, cached }),
          ...(errorClass === undefined ? {} : { errorClass, code }),
        }))
    const INFO = 30
    const WARN = 40
    expect(lifeOf(sent)).toEqual([
      { msg: 'message queued', level: INFO, priority: 'normal' },
      { msg: 'processing message', level: INFO, attempt: 1 },
      { msg: 'contact validated', level: INFO, attempt: 1, onWhatsApp: true, cached: false },
      { msg: 'sending message', level: INFO, attempt: 1 },
      { msg: 'message sent', level: INFO, attempt: 1 },
    ])
    expect(lifeOf(notOnWhatsApp)).toEqual([
      { msg: 'message queued', level: INFO, priority: 'normal' },
      { msg: 'processing message', level: INFO, attempt: 1 },
      { msg: 'contact validated', level: INFO, attempt: 1, onWhatsApp: false, cached: false },
      {
        msg: 'message send failed',
        level: WARN,
        attempt: 1,
        errorClass: 'permanent',
        code: 'NOT_REGISTERED',
      },
    ])
    expect(lifeOf(timedOut)).toEqual([
      { msg: 'message queued', level: INFO, priority: 'normal' },
      { msg: 'processing message', level: INFO, attempt: 1 },
      { msg: 'contact validated', level: INFO, attempt: 1, onWhatsApp: true, cached: false },
      { msg: 'sending message', level: INFO, attempt: 1 },
      {
        msg: 'message send failed',
        level: WARN,
        attempt: 1,
        errorClass: 'retryable',
        code: 'NETWORK_TIMEOUT',
      },
      { msg: 'processing message', level: INFO, attempt: 2 },
      { msg: 'contact validated', level: INFO, attempt: 2, onWhatsApp: true, cached: true },
      { msg: 'sending message', level: INFO, attempt: 2 },
      { msg: 'message sent', level: INFO, attempt: 2 },
    ])
    expect(parsed.find((l) => l['jobId'] === sent && l['msg'] === 'message sent')).toMatchObject({
      sessionId: 'default',
      messageId: expect.any(String),
    })
    const all = lines.join('\n')
    for (const body of Object.values(bodies)) expect(all).not.toContain(body)
    expect(all).not.toContain(token)
  })
})
