import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/main.ts'
import { jsonOf, openTestApi } from '../support/api.ts'
import { listeningGateway } from '../support/listening-gateway.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

const at = '2026-01-05T08:00:00.000Z'
const appendSome = async (store: Gateway['core']['store'], n: number, stream = 'queue-default') => {
  for (let i = 0; i < n; i++) {
    const r = await store.append(stream, [{ type: 'QueuePaused', data: { at, n: i } }], {
      expectedVersion: 'any',
    })
    if (!r.ok) throw new Error('append failed')
  }
}

describe('GET /api/events', () => {
  it('pages the log by position, with a Link to the next page, and filters by stream', async () => {
    const api = await openTestApi(tempDir())
    closers.push(api.close)
    await appendSome(api.core.store, 5)
    await appendSome(api.core.store, 2, 'queue-shop')
    const { token } = await api.login()
    const first = await api.get('/api/events?limit=3', token)
    expect(first.status).toBe(200)
    const page = await jsonOf(first)
    expect(page.map((e: { position: number }) => e.position)).toEqual([1, 2, 3])
    expect(page[0]).toEqual({
      position: 1,
      streamId: 'queue-default',
      version: 1,
      type: 'QueuePaused',
      data: { at, n: 0 },
      metadata: expect.any(Object),
      createdAt: expect.any(String),
    })
    expect(first.headers.get('Link')).toBe('</api/events?after=3&limit=3>; rel="next"')
    const rest = await jsonOf(await api.get('/api/events?after=3&limit=100', token))
    expect(rest.map((e: { position: number }) => e.position)).toEqual([4, 5, 6, 7])
    const shop = await jsonOf(await api.get('/api/events?stream=queue-shop', token))
    expect(shop.map((e: { streamId: string }) => e.streamId)).toEqual(['queue-shop', 'queue-shop'])
  })
})

describe('GET /api/events answers from the stored JSON', () => {
  it('is, text for text, what writing out the decoded events gives, whatever the data holds', async () => {
    const api = await openTestApi(tempDir())
    closers.push(api.close)
    const { token } = await api.login()
    // Any JSON object: strings with quotes, escapes, line breaks, emoji and lone surrogates; odd numbers.
    const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }))
    const data = fc.dictionary(text, fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }), { maxKeys: 6 })
    let stream = 0
    await fc.assert(
      fc.asyncProperty(fc.array(data, { minLength: 1, maxLength: 5 }), async (datas) => {
        const streamId = `queue-p${++stream}`
        for (const d of datas) {
          const r = await api.core.store.append(streamId, [{ type: 'QueuePaused', data: d }], {
            expectedVersion: 'any',
          })
          if (!r.ok) throw new Error('append failed')
        }
        const res = await api.get(`/api/events?stream=${streamId}`, token)
        expect(res.status).toBe(200)
        expect(res.headers.get('Content-Type')).toMatch(/^application\/json/)
        // The public form: a stored event without its event id, stream type and schema version.
        const expected = api.core.store
          .readAll(0, 100, { streamId })
          .map(({ eventId: _e, streamType: _t, schemaVersion: _v, ...shown }) => shown)
        expect(await res.text()).toBe(JSON.stringify(expected))
      }),
      { numRuns: 60 },
    )
  })
})

/** Reads SSE messages from a response until `count` have arrived. */
const readMessages = async (res: Response, count: number) => {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  const messages: { id?: string; event?: string; data?: string }[] = []
  while (messages.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let cut = buffer.indexOf('\n\n')
    while (cut >= 0) {
      const block = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      const m: Record<string, string> = {}
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':')
        if (colon > 0) m[line.slice(0, colon)] = line.slice(colon + 1).trim()
      }
      if (m['id'] || m['data']) messages.push(m)
      cut = buffer.indexOf('\n\n')
    }
  }
  await reader.cancel()
  return messages
}

describe('GET /api/events/stream (through a listening server)', () => {
  const start = async () => {
    const { gateway, base, login } = await listeningGateway(tempDir())
    closers.push(() => gateway.close())
    return { gateway, base, auth: { Authorization: `Bearer ${await login()}` } }
  }

  it('sends events committed after it connects, with the position as id', async () => {
    const { gateway, base, auth } = await start()
    await appendSome(gateway.core.store, 2)
    const p = gateway.core.store.lastPosition()
    const res = await fetch(`${base}/api/events/stream`, { headers: auth })
    expect(res.status).toBe(200)
    expect(res.headers.get('Content-Type')).toMatch(/text\/event-stream/)
    const reading = readMessages(res, 2)
    await appendSome(gateway.core.store, 2)
    const messages = await reading
    expect(messages.map((m) => m.id)).toEqual([String(p + 1), String(p + 2)])
    expect(messages[0]?.event).toBe('QueuePaused')
    expect(JSON.parse(messages[0]?.data ?? '{}')).toMatchObject({
      position: p + 1,
      streamId: 'queue-default',
    })
  })

  it('resumes after Last-Event-ID: the missed events first, then new ones', async () => {
    const { gateway, base, auth } = await start()
    const p = gateway.core.store.lastPosition()
    await appendSome(gateway.core.store, 5)
    const res = await fetch(`${base}/api/events/stream`, {
      headers: { ...auth, 'Last-Event-ID': String(p + 2) },
    })
    const reading = readMessages(res, 4)
    await appendSome(gateway.core.store, 1)
    const messages = await reading
    expect(messages.map((m) => m.id)).toEqual([3, 4, 5, 6].map((n) => String(p + n)))
    // Caught up or live, each message carries the event as the page route gives it.
    const page = (await jsonOf(
      await fetch(`${base}/api/events?after=${p + 2}&limit=4`, { headers: auth }),
    )) as unknown[]
    expect(messages.map((m) => m.data)).toEqual(page.map((e) => JSON.stringify(e)))
  })

  it('takes an empty Last-Event-ID as none: new events from now on', async () => {
    const { gateway, base, auth } = await start()
    const p = gateway.core.store.lastPosition()
    const res = await fetch(`${base}/api/events/stream`, { headers: { ...auth, 'Last-Event-ID': '' } })
    expect(res.status).toBe(200)
    const reading = readMessages(res, 1)
    await appendSome(gateway.core.store, 1)
    expect((await reading).map((m) => m.id)).toEqual([String(p + 1)])
  })

  it('does not keep the gateway from closing', async () => {
    const { gateway, base, auth } = await start()
    const res = await fetch(`${base}/api/events/stream`, { headers: auth })
    expect(res.status).toBe(200)
    closers.pop()
    await gateway.close()
    expect(gateway.core.db.open).toBe(false)
  })
})
