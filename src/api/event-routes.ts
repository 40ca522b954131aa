// GET /api/events (a page of the log by position) and GET /api/events/stream (Server-Sent Events,
// resumable with Last-Event-ID). Both read the event log itself.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import type { Clock } from '../clock.ts'
import type { EventStore, RawEvent } from '../eventlog/event-store.ts'
import type { StoredEvent } from '../eventlog/types.ts'
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

/** A just-committed event, its data and metadata written out as JSON text. */
const rawOf = (e: StoredEvent): RawEvent => ({
  position: e.position,
  streamId: e.streamId,
  version: e.version,
  type: e.type,
  data: JSON.stringify(e.data),
  metadata: JSON.stringify(e.metadata),
  createdAt: e.createdAt,
})

const CATCH_UP_PAGE = 500

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
}: {
  store: EventStore
  clock: Clock
  heartbeatMs?: number
  shutdown?: AbortSignal
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
    let sent = lastEventId !== undefined ? Number(lastEventId) : (after ?? store.lastPosition())
    return streamSSE(c, async (sse) => {
      // Subscribe before catching up, so nothing committed in between is missed; positions already
      // sent are skipped.
      const pending: StoredEvent[] = []
      let wake: (() => void) | null = null
      const unsubscribe = store.subscribe((events) => {
        for (const e of events) if (stream === undefined || e.streamId === stream) pending.push(e)
        wake?.()
      })
      let open = true
      const end = () => {
        open = false
        wake?.()
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
      /** Writes the events not sent yet, in order, while the stream is open and its token lets it in. */
      const deliver = async (events: readonly RawEvent[]) => {
        if (!admitted()) return
        for (const e of events) {
          if (expired()) refuse('TOKEN_EXPIRED')
          if (!open) return
          if (e.position <= sent) continue
          await sse.writeSSE({ id: String(e.position), event: e.type, data: eventJson(e) })
          sent = e.position
        }
      }
      try {
        // The catch-up reads the events' stored JSON, as the page route does.
        for (;;) {
          const page = store.readAllRaw(sent, CATCH_UP_PAGE, filter)
          await deliver(page)
          if (page.length < CATCH_UP_PAGE || !open) break
        }
        while (open) {
          if (pending.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve
            })
            wake = null
            continue
          }
          await deliver(pending.splice(0).map(rawOf))
        }
        // No id: the client's Last-Event-ID stays the last event it was sent.
        if (refused !== null) await sse.writeSSE({ event: 'unauthorized', data: refused })
      } finally {
        open = false
        heartbeat.cancel()
        expiry.cancel()
        unsubscribe()
        shutdown?.removeEventListener('abort', end)
      }
    })
  })
  return app
}
