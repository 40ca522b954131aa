import { describe, expect, it } from 'vitest'
import { createLogger, unredacted } from '../../src/logger.ts'
import { ADMIN, openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()

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
})
