// Request bodies as Node delivers them: in chunks, with or without a length, cut short, too large. Served
// by @hono/node-server on a real socket, since under `app.request()` there is no Node message to read.
import { request } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { serve } from '@hono/node-server'
import { afterEach, describe, expect, it } from 'vitest'
import { openTestApi } from '../support/api.ts'
import { useTempDir } from '../support/temp-dir.ts'

const tempDir = useTempDir()
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

const LIMIT = 1024

const open = async () => {
  const api = await openTestApi(tempDir(), { bodyLimitBytes: LIMIT })
  closers.push(api.close)
  const server = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  const { token } = await api.login()

  /** Sends the chunks one write at a time (chunked unless a Content-Length is given); the answer. */
  const send = (path: string, chunks: Buffer[], headers: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, ...headers },
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            body += d
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        },
      )
      req.on('error', reject)
      const write = (i: number) => {
        if (i === chunks.length) {
          req.end()
          return
        }
        req.write(chunks[i], () => setImmediate(() => write(i + 1)))
      }
      write(0)
    })
  return { api, port, token, send }
}

/** A buffer cut into pieces of `size` bytes, cutting through multi-byte characters where they fall. */
const pieces = (buf: Buffer, size: number) =>
  Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size))

describe('request bodies read from the Node request', () => {
  it('reads a chunked body whose characters are split between chunks', async () => {
    const t = await open()
    const message = 'Tagihan Rp 42.000 — jatuh tempo Jumat 🙏 terima kasih'
    const raw = Buffer.from(JSON.stringify({ number: '081234567890', message }))
    const res = await t.send('/api/whatsapp/send-message', pieces(raw, 3))
    expect(res.status).toBe(202)
    const { jobId } = JSON.parse(res.body) as { jobId: string }
    // The job keeps the text as it came (its read answer leaves message bodies out).
    const stored = t.api.core.db.prepare('SELECT body FROM jobs WHERE id = ?').pluck().get(jobId)
    expect(stored).toBe(message)
  })

  it('reads a body with a Content-Length, and one that starts with a byte order mark', async () => {
    const t = await open()
    const raw = Buffer.from(JSON.stringify({ number: '081234567890', message: 'Invoice 42' }))
    const plain = await t.send('/api/whatsapp/send-message', [raw], {
      'Content-Length': String(raw.length),
    })
    expect(plain.status).toBe(202)
    const bom = await t.send('/api/whatsapp/send-message', [Buffer.from([0xef, 0xbb, 0xbf]), raw])
    expect(bom.status).toBe(202)
  })

  it('refuses a declared length over the limit with 413 before reading the body', async () => {
    const t = await open()
    const res = await t
      .send('/api/whatsapp/send-message', [Buffer.from('{}')], {
        'Content-Length': String(LIMIT + 1),
      })
      .catch((err: NodeJS.ErrnoException) => err)
    // The answer comes before the body the length promised, and the server may close on the rest.
    if (res instanceof Error) expect(res.code).toMatch(/ECONNRESET|EPIPE/)
    else {
      expect(res.status).toBe(413)
      expect(JSON.parse(res.body)).toMatchObject({ success: false, error: { code: 'PAYLOAD_TOO_LARGE' } })
    }
  })

  it('refuses a chunked body once it passes the limit, with 413 and the connection closed', async () => {
    const t = await open()
    const raw = Buffer.from(JSON.stringify({ number: '081234567890', message: 'x'.repeat(LIMIT * 4) }))
    const res = await t.send('/api/whatsapp/send-message', pieces(raw, 256))
    expect(res.status).toBe(413)
    expect(res.headers['connection']).toBe('close')
    expect(JSON.parse(res.body)).toMatchObject({ success: false, error: { code: 'PAYLOAD_TOO_LARGE' } })
    const waiting = t.api.core.db.prepare('SELECT count(*) FROM jobs').pluck().get()
    expect(waiting).toBe(0)
  })

  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const t = await open()
    const res = await t.send('/api/whatsapp/send-message', pieces(Buffer.from('{"number": "0812'), 4))
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'MALFORMED_JSON' } })
  })

  it('takes a POST with neither a length nor a body type as bodiless, as curl -X POST sends it', async () => {
    const t = await open()
    // Written by hand: Node's client would add a Content-Length or a chunked encoding of its own.
    const raw = (path: string, token?: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(t.port, '127.0.0.1', () => {
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n` +
              (token ? `Authorization: Bearer ${token}\r\n` : '') +
              'Connection: close\r\n\r\n',
          )
        })
        let answer = ''
        socket.setEncoding('utf8')
        socket.on('data', (d: string) => {
          answer += d
        })
        socket.on('end', () => resolve(answer))
        socket.on('error', reject)
      })
    const paused = await raw('/api/whatsapp/queue/pause', t.token)
    expect(paused).toMatch(/^HTTP\/1\.1 200 /)
    expect(paused).toContain('"paused":true')
    // Without a token it is the token that is missing, not a body type.
    expect(await raw('/api/whatsapp/queue/resume')).toMatch(/^HTTP\/1\.1 401 /)
  })

  it('lets a client that goes away mid-body go, and answers the next one', async () => {
    const t = await open()
    const errors: unknown[] = []
    await new Promise<void>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port: t.port,
        path: '/api/whatsapp/send-message',
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': '500',
          Authorization: `Bearer ${t.token}`,
        },
      })
      req.on('error', (err) => errors.push(err))
      req.write('{"number": "081234567890", "mess', () => {
        setImmediate(() => {
          req.destroy()
          resolve()
        })
      })
    })
    const raw = Buffer.from(JSON.stringify({ number: '081234567890', message: 'after' }))
    const next = await t.send('/api/whatsapp/send-message', [raw])
    expect(next.status).toBe(202)
    expect(t.api.core.db.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(1)
  })
})
