import { afterEach, describe, expect, it } from 'vitest'
import { openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/** Prometheus text → sample name with labels → value. */
const parse = (text: string): Map<string, number> => {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return samples
}

describe('GET /metrics', () => {
  it('counts sends and failures by class, jobs by status, session state, the log and HTTP requests', async () => {
    const api = await openTestApi(tempDir())
    closers.push(api.close)
    const { token } = await api.login()
    const scrape = async () => {
      const res = await api.app.request('/metrics')
      expect(res.status).toBe(200)
      expect(res.headers.get('Content-Type')).toMatch(/^text\/plain/)
      const text = await res.text()
      return { text, m: parse(text) }
    }
    const before = await scrape()
    expect(before.m.get('kurir_sends_total{session="default",outcome="sent"}') ?? 0).toBe(0)

    await api.sessions.create('default')
    await api.sessions.start('default')
    await api.settle()
    api.simulator.link('default')
    await api.settle()
    const send = (number: string, message: string) =>
      api.app.request('/api/whatsapp/send-message', {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ number, message }),
      })
    expect((await send('081234567890', 'a private message')).status).toBe(202)
    expect((await send('081234560000', 'to no one')).status).toBe(202)
    await api.settle()

    const { text, m } = await scrape()
    expect(m.get('kurir_sends_total{session="default",outcome="sent"}')).toBe(1)
    expect(m.get('kurir_sends_total{session="default",outcome="failed"}')).toBe(1)
    expect(
      m.get('kurir_send_failures_total{session="default",code="NOT_REGISTERED",retryable="false"}'),
    ).toBe(1)
    expect(m.get('kurir_jobs{session="default",status="completed"}')).toBe(1)
    expect(m.get('kurir_jobs{session="default",status="failed"}')).toBe(1)
    expect(m.get('kurir_session_state{session="default",state="ready"}')).toBe(1)
    expect(m.get('kurir_session_state{session="default",state="qr"}')).toBe(0)
    expect(m.get('kurir_session_restarts{session="default"}')).toBe(0)
    expect(m.get('kurir_enqueue_to_send_seconds_count{session="default"}')).toBe(1)
    expect(m.get('kurir_send_attempts_count{session="default"}')).toBe(1)
    expect(m.get('kurir_event_log_position')).toBe(api.core.store.lastPosition())
    expect(m.get('kurir_event_commit_seconds_count')).toBeGreaterThan(0)
    expect(
      m.get(
        'kurir_http_request_duration_seconds_count{method="POST",route="/api/whatsapp/send-message",status="202"}',
      ),
    ).toBe(2)
    expect(
      m.get('kurir_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}'),
    ).toBe(1)
    // The process's own, under the standard names with the one prefix.
    expect(m.get('kurir_process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(m.get('kurir_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0)
    expect(text).not.toContain('process_process')
    // No phone number or message text in any label.
    for (const secret of ['81234567890', '6281234560000', 'a private message', 'to no one']) {
      expect(text).not.toContain(secret)
    }
    // A path with an id is counted under its pattern.
    await api.app.request('/api/sessions/sales/status', { headers: { Authorization: `Bearer ${token}` } })
    await api.app.request('/no/such/route')
    const after = (await scrape()).m
    expect(
      after.get(
        'kurir_http_request_duration_seconds_count{method="GET",route="/api/sessions/:id/status",status="404"}',
      ),
    ).toBe(1)
    expect(
      after.get('kurir_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}'),
    ).toBe(1)
  })
})
