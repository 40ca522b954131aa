// GET /api/events (a page of the log by position) and GET /api/events/stream (Server-Sent Events,
// resumable with Last-Event-ID). Both read the event log itself.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import type { Clock, TimerHandle } from '../clock.ts'
import { ValidationError } from '../errors.ts'
import type { EventStore, RawEvent } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'
import type { StreamMetrics } from '../metrics.ts'
import type { ApiEnv } from './deps.ts'
import { bearer, errors, queryInt } from './schemas.ts'

const EventSchema = z
  .object({
    position: z.number().int(),
    streamId: z.string(),
    version: z.number().int(),
    type: z.string(),
    data: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
  })
  .openapi('Event')

const STREAM_ID = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z]+-[A-Za-z0-9_-]+$/, 'a stream id such as job-01J… or session-default')
const POSITION = queryInt(0, Number.MAX_SAFE_INTEGER)

const PageQuery = z.object({
  stream: STREAM_ID.optional().openapi({ description: 'only this stream' }),
  after: POSITION.default(0).openapi({ description: 'events after this position' }),
  limit: queryInt(1, 1000).default(100),
})

const StreamQuery = z.object({
  stream: STREAM_ID.optional().openapi({ description: 'only this stream' }),
  after: POSITION.optional().openapi({ description: 'start after this position (Last-Event-ID wins)' }),
})

const StreamHeaders = z.object({
  'last-event-id': z
    .string()
    // Empty when the client has received no event yet: the same as no header.
    .regex(/^(\d{1,15})?$/, 'the position of the last event received')
    .optional(),
})

const listEvents = createRoute({
  method: 'get',
  path: '/api/events',
  tags: ['events'],
  summary: 'A page of the event log, in position order',
  security: bearer,
  request: { query: PageQuery },
  responses: {
    200: {
      description: 'Events; when the page is full, a Link header names the next page',
      content: { 'application/json': { schema: z.array(EventSchema) } },
    },
    ...errors(400, 401),
  },
})

const streamEvents = createRoute({
  method: 'get',
  path: '/api/events/stream',
  tags: ['events'],
  summary: 'New events as Server-Sent Events (id = position; resumable with Last-Event-ID)',
  security: bearer,
  request: { query: StreamQuery, headers: StreamHeaders },
  responses: {
    200: {
      description: 'An endless event stream; each message is one event as JSON',
      content: { 'text/event-stream': { schema: z.string() } },
    },
    ...errors(400, 401),
  },
})

/**
 * An event as the API shows it (the Event schema), as JSON text. Data and metadata come as JSON text: the
 * log's own for events read from it, written out once for events just committed.
 */
const eventJson = (e: RawEvent): string =>
  `{"position":${e.position},"streamId":${JSON.stringify(e.streamId)},"version":${e.version},"type":${JSON.stringify(e.type)},"data":${e.data},"metadata":${e.metadata},"createdAt":${JSON.stringify(e.createdAt)}}`

/**
 * A just-committed event, its data and metadata written out as JSON text: once per event, however many
 * streams it goes to.
 */
const written = new WeakMap<StoredEvent, RawEvent>()
const rawOf = (e: StoredEvent): RawEvent => {
  let raw = written.get(e)
  if (raw === undefined) {
    raw = {
      position: e.position,
      streamId: e.streamId,
      version: e.version,
      type: e.type,
      data: JSON.stringify(e.data),
      metadata: JSON.stringify(e.metadata),
      createdAt: e.createdAt,
    }
    written.set(e, raw)
  }
  return raw
}

/** One Server-Sent Events message for an event (its JSON holds no line break). */
const messageOf = (e: RawEvent): string => `id: ${e.position}\nevent: ${e.type}\ndata: ${eventJson(e)}\n\n`

const CATCH_UP_PAGE = 500
/**
 * Events a stream holds for a reader that is slower than the log grows; past this many it lets them go
 * and catches up from the log itself, so that a reader that stops reading costs bounded memory.
 */
export const STREAM_BUFFER_MAX = 2_000
/**
 * How long a stream that must end (its token ran out, its user went, the gateway stops) may take to say
 * so; a reader that stopped reading would otherwise keep it, and its subscription, open for good.
 */
export const STREAM_END_GRACE_MS = 5_000

/**
 * Why an open stream's token stopped letting it in: the code a request with that token is now refused
 * with (401). The stream's last message is `event: unauthorized` with this code as its data.
 */
type Refusal = 'TOKEN_EXPIRED' | 'USER_NOT_FOUND' | 'TOKEN_REVOKED'

/**
 * @example
 * app.route('/', eventRoutes({ store, clock }))
 */
export const eventRoutes = ({
  store,
  clock,
  heartbeatMs = 15_000,
  shutdown,
  bufferMax = STREAM_BUFFER_MAX,
  metrics,
}: {
  store: EventStore
  clock: Clock
  heartbeatMs?: number
  shutdown?: AbortSignal
  /** Events held for a slow reader before it is caught up from the log instead. */
  bufferMax?: number
  metrics?: StreamMetrics
}) => {
  const app = new OpenAPIHono<ApiEnv>()

  app.openapi(listEvents, (c) => {
    const { stream, after, limit } = c.req.valid('query')
    const events = store.readAllRaw(after, limit, stream === undefined ? {} : { streamId: stream })
    const last = events[events.length - 1]
    if (events.length === limit && last) {
      const next = new URLSearchParams({ after: String(last.position), limit: String(limit) })
      if (stream !== undefined) next.set('stream', stream)
      c.header('Link', `</api/events?${next}>; rel="next"`)
    }
    // The page is written from the events' stored JSON; its shape is the Event schema above (the cast:
    // Hono types only answers made by `c.json` as JSON ones).
    return c.body(`[${events.map(eventJson).join(',')}]`, 200, {
      'Content-Type': 'application/json',
    }) as never
  })

  app.openapi(streamEvents, (c) => {
    const { stream, after } = c.req.valid('query')
    const lastEventId = c.req.valid('header')['last-event-id'] || undefined
    const filter = stream === undefined ? {} : { streamId: stream }
    const access = c.get('access')
    const expiresAt = access.expiresAt()
    const last = store.lastPosition()
    let sent = lastEventId !== undefined ? Number(lastEventId) : (after ?? last)
    if (sent > last) {
      // Not a position of this log (another database's, one restored from an older copy): waiting for
      // the log to reach it would send nothing, without a word.
      throw new ValidationError(
        `${lastEventId !== undefined ? 'Last-Event-ID' : 'after'} ${sent} is past the end of the log (position ${last})`,
        { details: { position: sent, lastPosition: last } },
      )
    }
    const outgoing = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing
    return streamSSE(c, async (sse) => {
      // Subscribe before catching up, so nothing committed in between is missed; positions already
      // sent are skipped.
      const pending: StoredEvent[] = []
      /** The reader fell behind by more than the buffer holds: what it has not got is read from the log. */
      let behind = false
      let wake: (() => void) | null = null
      const unsubscribe = store.subscribe((events) => {
        const before = pending.length
        for (const e of events) {
          if (stream !== undefined && e.streamId !== stream) continue
          if (pending.length >= bufferMax) {
            behind = true
            pending.length = 0
            break
          }
          if (!behind) pending.push(e)
        }
        metrics?.buffered(pending.length - before)
        wake?.()
      })
      metrics?.opened()
      let open = true
      let finished = false
      const cutOff: { timer: TimerHandle | null } = { timer: null }
      const end = () => {
        open = false
        wake?.()
        // A writer stuck on a reader that does not read never gets to say why it ends: after the
        // grace, the connection is cut.
        cutOff.timer ??= clock.setTimer(() => {
          if (finished) return
          outgoing?.destroy()
          sse.abort()
        }, STREAM_END_GRACE_MS)
      }
      // The stream lasts as long as its token would let a request in; then it ends, saying why.
      let refused: Refusal | null = null
      const refuse = (why: Refusal) => {
        refused ??= why
        end()
      }
      const expired = () => clock.now() >= expiresAt
      const admitted = (): boolean => {
        if (expired()) refuse('TOKEN_EXPIRED')
        else {
          const why = access.refusal()
          if (why !== null) refuse(why)
        }
        return refused === null
      }
      let expiry = clock.setTimer(function expire() {
        // A clock may wake early on a long wait; then it waits for the rest.
        if (admitted()) expiry = clock.setTimer(expire, expiresAt - clock.now())
      }, expiresAt - clock.now())
      let heartbeat = clock.setTimer(function beat() {
        if (!open || !admitted()) return
        void sse.write(': keepalive\n\n')
        heartbeat = clock.setTimer(beat, heartbeatMs)
      }, heartbeatMs)
      sse.onAbort(end)
      if (shutdown?.aborted) end()
      shutdown?.addEventListener('abort', end, { once: true })
      /**
       * Writes the events not sent yet, in order and in one write, while the stream is open and its token
       * lets it in.
       */
      const deliver = async (events: readonly RawEvent[]) => {
        if (!admitted() || !open) return
        let text = ''
        let upTo = sent
        for (const e of events) {
          if (e.position <= upTo) continue
          text += messageOf(e)
          upTo = e.position
        }
        if (text === '') return
        await sse.write(text)
        sent = upTo
      }
      /** Reads what was not sent yet from the log (its stored JSON, as the page route does). */
      const catchUp = async () => {
        for (;;) {
          const page = store.readAllRaw(sent, CATCH_UP_PAGE, filter)
          await deliver(page)
          if (page.length < CATCH_UP_PAGE || !open) break
        }
      }
      try {
        await catchUp()
        while (open) {
          if (behind) {
            behind = false
            metrics?.buffered(-pending.length)
            pending.length = 0
            await catchUp()
            continue
          }
          if (pending.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve
            })
            wake = null
            continue
          }
          const taken = pending.splice(0)
          metrics?.buffered(-taken.length)
          await deliver(taken.map(rawOf))
        }
        // No id: the client's Last-Event-ID stays the last event it was sent.
        if (refused !== null) await sse.writeSSE({ event: 'unauthorized', data: refused })
      } finally {
        open = false
        finished = true
        cutOff.timer?.cancel()
        unsubscribe()
        metrics?.buffered(-pending.length)
        pending.length = 0
        metrics?.closed()
        heartbeat.cancel()
        expiry.cancel()
        shutdown?.removeEventListener('abort', end)
      }
    })
  })
  return app
}
