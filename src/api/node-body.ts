// Request bodies of a request served by Node, read straight from its IncomingMessage. Hono would build a
// web Request around the message for the first look at its body (an AbortController, a web stream over
// the Node stream, undici's body parsing): most of what a small JSON POST costs. Read here, with the
// size limit counted as the bytes come, the text goes into Hono's body cache, where `c.req.json()` and
// the validators find it.
import type { IncomingMessage } from 'node:http'

/** The Node request under a request served by @hono/node-server; undefined under `app.request()`. */
export const nodeRequestOf = (env: unknown): IncomingMessage | undefined => {
  const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming
  return typeof incoming?.on === 'function' && typeof incoming.headers === 'object' ? incoming : undefined
}

/** The declared length, when the request declares one that HTTP/1.1 honours (no Transfer-Encoding). */
export const declaredLength = (incoming: IncomingMessage): number | undefined => {
  const length = incoming.headers['content-length']
  if (length === undefined || incoming.headers['transfer-encoding'] !== undefined) return undefined
  return Number.parseInt(length, 10)
}

/** Whether the request carries a body at all: a non-zero length, or a chunked one. */
export const carriesBody = (incoming: IncomingMessage): boolean =>
  incoming.headers['transfer-encoding'] !== undefined ||
  (incoming.headers['content-length'] !== undefined && declaredLength(incoming) !== 0)

export type BodyRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; reason: 'too-large' }
  | { ok: false; reason: 'incomplete' }

/**
 * Reads the whole body, or stops at the first byte past `maxBytes` and throws the rest away as it comes
 * (the socket then carries the answer and nothing of this request is left to be read as the next one).
 *
 * @example
 * const read = await readNodeBody(incoming, 1024 * 1024)
 * if (read.ok) c.req.bodyCache.text = Promise.resolve(utf8.decode(read.bytes))
 */
export const readNodeBody = (incoming: IncomingMessage, maxBytes: number): Promise<BodyRead> =>
  new Promise((resolve) => {
    if (incoming.readableEnded) {
      resolve(incoming.complete ? { ok: true, bytes: Buffer.alloc(0) } : { ok: false, reason: 'incomplete' })
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const done = (read: BodyRead) => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onIncomplete)
      incoming.off('close', onIncomplete)
      resolve(read)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        done({ ok: false, reason: 'too-large' })
        // Still flowing, with nobody listening: what is left is drained and dropped.
        incoming.resume()
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () =>
      done({ ok: true, bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) })
    // The client went away (or the socket failed) before the body was whole.
    const onIncomplete = () => done({ ok: false, reason: 'incomplete' })
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onIncomplete)
    incoming.on('close', onIncomplete)
  })

/** UTF-8 as a web Request's `text()` decodes it: a leading byte order mark dropped, bad bytes replaced. */
export const utf8 = new TextDecoder()
