import { connect } from 'node:net'
import { decode } from 'hono/jwt'
import { afterEach, describe, expect, it } from 'vitest'
import { STREAM_BUFFER_MAX, STREAM_END_GRACE_MS } from '../../src/api/event-routes.ts'
import type { Gateway } from '../../src/main.ts'
import { ADMIN } from '../support/api.ts'
import { runKurir } from '../support/cli.ts'
import { createFakeClock } from '../support/fake-clock.ts'
import { listeningGateway } from '../support/listening-gateway.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

/** The route's default heartbeat. */
const HEARTBEAT_MS = 15_000

type Message = { id?: string; event?: string; data?: string; comment?: string }

/** Reads an SSE response one message at a time (comment lines too); null once the server has closed it. */
const messagesOf = (res: Response) => {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  const next = async (): Promise<Message | null> => {
    for (;;) {
      const cut = buffer.indexOf('\n\n')
      if (cut >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        const m: Record<string, string> = {}
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':')
          const field = colon === 0 ? 'comment' : line.slice(0, colon)
          m[field] = line.slice(colon + 1).replace(/^ /, '')
        }
        return m
      }
      const { value, done } = await reader.read()
      if (done) return null
      buffer += decoder.decode(value, { stream: true })
    }
  }
  /** The next message that is not a comment. */
  const nextData = async (): Promise<Message | null> => {
    for (;;) {
      const m = await next()
      if (m?.comment === undefined) return m
    }
  }
  return { next, nextData, cancel: () => reader.cancel() }
}

const at = '2026-01-05T08:00:00.000Z'
const appendOne = async (store: Gateway['core']['store']) => {
  const r = await store.append('queue-default', [{ type: 'QueuePaused', data: { at } }], {
    expectedVersion: 'any',
  })
  const event = r.ok ? r.events[0] : undefined
  if (!event) throw new Error('append failed')
  return event.position
}

describe('GET /api/events/stream ends when its token stops letting it in', () => {
  const start = async () => {
    const dir = tempDir()
    const clock = createFakeClock()
    const { gateway, base, login } = await listeningGateway(dir, { clock })
    closers.push(() => gateway.close())
    const token = await login()
    /** The queue's events as they are committed (the sessions' own timers write elsewhere). */
    const follow = async (bearer: string, lastEventId?: string) => {
      const headers: Record<string, string> = { Authorization: `Bearer ${bearer}` }
      if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId
      const res = await fetch(`${base}/api/events/stream?stream=queue-default`, { headers })
      expect(res.status).toBe(200)
      const messages = messagesOf(res)
      closers.unshift(async () => {
        await messages.cancel()
      })
      return messages
    }
    const expiresAt = (decode(token).payload.exp ?? 0) * 1000
    return { dir, gateway, base, clock, token, login, follow, expiresAt }
  }

  it('closes at the access token’s exp with an unauthorized event, and a fresh token resumes from Last-Event-ID', async () => {
    const { gateway, base, clock, token, login, follow, expiresAt } = await start()
    const messages = await follow(token)
    await appendOne(gateway.core.store)
    expect(await messages.nextData()).toMatchObject({ event: 'QueuePaused' })

    clock.set(expiresAt - 1)
    const lastBefore = await appendOne(gateway.core.store)
    expect(await messages.nextData()).toMatchObject({ event: 'QueuePaused' })

    clock.set(expiresAt)
    const atExpiry = await appendOne(gateway.core.store)
    expect(await messages.nextData()).toEqual({ event: 'unauthorized', data: 'TOKEN_EXPIRED' })
    expect(await messages.next()).toBeNull()

    const refused = await fetch(`${base}/api/events`, { headers: { Authorization: `Bearer ${token}` } })
    expect(refused.status).toBe(401)
    const resumed = await follow(await login(), String(lastBefore))
    expect(await resumed.nextData()).toMatchObject({ id: String(atExpiry), event: 'QueuePaused' })
  })

  it('delivers nothing appended after its user is removed, and closes', async () => {
    const { gateway, token, follow } = await start()
    const messages = await follow(token)
    await appendOne(gateway.core.store)
    expect(await messages.nextData()).toMatchObject({ event: 'QueuePaused' })

    gateway.users.remove(ADMIN.email)
    await appendOne(gateway.core.store)
    expect(await messages.nextData()).toEqual({ event: 'unauthorized', data: 'USER_NOT_FOUND' })
    expect(await messages.next()).toBeNull()
  })

  it('closes at the next heartbeat once `kurir user remove` has removed its user', async () => {
    const { dir, clock, token, follow } = await start()
    const messages = await follow(token)

    expect((await runKurir(dir, 'user', 'remove', '--email', ADMIN.email)).code).toBe(0)
    clock.advance(HEARTBEAT_MS)
    expect(await messages.next()).toEqual({ event: 'unauthorized', data: 'USER_NOT_FOUND' })
    expect(await messages.next()).toBeNull()
  })

  it('closes at the next heartbeat once `kurir user passwd` has changed its user’s password, and refuses the token', async () => {
    const { dir, base, clock, token, follow } = await start()
    const messages = await follow(token)

    const passwd = await runKurir(
      dir,
      'user',
      'passwd',
      '--email',
      ADMIN.email,
      '--password',
      'another long password',
    )
    expect(passwd.code).toBe(0)
    clock.advance(HEARTBEAT_MS)
    expect(await messages.next()).toEqual({ event: 'unauthorized', data: 'TOKEN_REVOKED' })
    expect(await messages.next()).toBeNull()
    const refused = await fetch(`${base}/api/events`, { headers: { Authorization: `Bearer ${token}` } })
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REVOKED')
  })

  it('holds a bounded buffer for a reader that stops reading, and cuts it off after its token runs out', async () => {
    const { gateway, base, clock, token, expiresAt } = await start()
    const gauge = async (name: string) => {
      const text = await (await fetch(`${base}/metrics`)).text()
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1])
    }
    // A reader that takes the answer's first bytes, then nothing more.
    const socket = connect(Number(new URL(base).port), '127.0.0.1')
    socket.write(
      `GET /api/events/stream?stream=probe-stall HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    )
    await new Promise((resolve) => socket.once('data', resolve))
    socket.pause()
    expect(await gauge('kurir_event_streams')).toBe(1)
    // Far more than the socket's buffers take: the stream's writer waits on the reader.
    const pad = 'x'.repeat(2_000)
    for (let i = 0; i < 50; i++) {
      const batch = Array.from({ length: 100 }, () => ({ type: 'Probe', data: { at, pad } }))
      await gateway.core.store.append('probe-stall', batch, { expectedVersion: 'any' })
      expect(await gauge('kurir_event_stream_buffered_events')).toBeLessThanOrEqual(STREAM_BUFFER_MAX)
    }
    clock.set(expiresAt)
    clock.advance(STREAM_END_GRACE_MS)
    // The stream ends on the server, its subscription with it, though its reader never read.
    for (let i = 0; i < 100 && (await gauge('kurir_event_streams')) !== 0; i++) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await gauge('kurir_event_streams')).toBe(0)
    expect(await gauge('kurir_event_stream_buffered_events')).toBe(0)
    socket.destroy()
  })

  it('gives a reader that fell behind by more than the buffer every event, once and in order, from the log', async () => {
    const { gateway, base, token } = await start()
    const res = await fetch(`${base}/api/events/stream?stream=probe-behind`, {
      headers: { Authorization: `Bearer ${token}` },
    })
    const messages = messagesOf(res)
    closers.unshift(async () => {
      await messages.cancel()
    })
    // Nothing is read while the log grows by far more than the buffer holds.
    const pad = 'y'.repeat(8_000)
    const positions: number[] = []
    for (let i = 0; i < 40; i++) {
      const batch = Array.from({ length: 100 }, () => ({ type: 'Probe', data: { at, pad } }))
      const r = await gateway.core.store.append('probe-behind', batch, { expectedVersion: 'any' })
      if (r.ok) positions.push(...r.events.map((e) => e.position))
    }
    expect(positions).toHaveLength(4_000)
    const got: number[] = []
    while (got.length < positions.length) {
      const m = await messages.nextData()
      if (m === null) break
      got.push(Number(m.id))
    }
    expect(got).toEqual(positions)
  })

  it('refuses to resume from a position past the end of the log, which no event of it will reach', async () => {
    const { gateway, base, token } = await start()
    const last = gateway.core.store.lastPosition()
    for (const [query, headers] of [
      ['', { 'Last-Event-ID': String(last + 1) }],
      [`?after=${last + 1000}`, {}],
    ] as const) {
      const res = await fetch(`${base}/api/events/stream${query}`, {
        headers: { Authorization: `Bearer ${token}`, ...headers },
      })
      expect(res.status).toBe(400)
      const body = (await res.json()) as { error: { code: string; details: unknown } }
      expect(body.error.code).toBe('VALIDATION_ERROR')
      expect(body.error.details).toMatchObject({ lastPosition: last })
    }
    const atEnd = await fetch(`${base}/api/events/stream`, {
      headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': String(last) },
    })
    expect(atEnd.status).toBe(200)
    await atEnd.body?.cancel()
  })

  it('keeps a stream with a valid token going, heartbeats and events, up to just before exp', async () => {
    const { gateway, clock, token, follow, expiresAt } = await start()
    const messages = await follow(token)

    clock.advance(HEARTBEAT_MS)
    expect(await messages.next()).toEqual({ comment: 'keepalive' })
    await appendOne(gateway.core.store)
    expect(await messages.next()).toMatchObject({ event: 'QueuePaused' })

    clock.set(expiresAt - 1)
    expect(await messages.next()).toEqual({ comment: 'keepalive' })
    await appendOne(gateway.core.store)
    expect(await messages.next()).toMatchObject({ event: 'QueuePaused' })
  })
})
