// Prometheus metrics (prom-client) on a registry of the gateway's own: the queue and the sessions as the
// projections have them, sends and failures by error class, enqueue-to-send latency, the event log's
// position and commit time, HTTP requests. Labels carry session ids, statuses and codes — never a phone
// number or a message.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { SESSION_STATES } from '../machines/session-machine.ts'
import type { Db } from './eventlog/database.ts'
import { JOB_STATUSES } from './projections/rows.ts'

/** What the dispatcher reports about each send. */
export interface SendMetrics {
  sent(sessionId: string, attempt: number, enqueuedAtMs: number, nowMs: number): void
  failed(sessionId: string, code: string, retryable: boolean): void
  rateLimited(sessionId: string): void
}

/**
 * @example
 * const metrics = createMetrics()
 * metrics.watch({ db, lastPosition: store.lastPosition })
 * const text = await metrics.text()
 */
/** What the event streams report: how many are open, and how many events they hold for their readers. */
export interface StreamMetrics {
  opened(): void
  closed(): void
  /** Events taken into (positive) or out of (negative) a stream's buffer. */
  buffered(delta: number): void
}

export const createMetrics = () => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'kurir_' })
  let source: { db: Db; lastPosition: () => number } | null = null
  let sessionsQuery: { db: Db; statement: { all(): unknown[] } } | null = null
  /** The sessions not deleted, for the session gauges: one statement, prepared once per database. */
  const liveSessions = (): { id: string; state: string; restarts: number }[] => {
    if (!source) return []
    if (sessionsQuery?.db !== source.db) {
      const statement = source.db.prepare("SELECT id, state, restarts FROM sessions WHERE state <> 'deleted'")
      sessionsQuery = { db: source.db, statement }
    }
    return sessionsQuery.statement.all() as { id: string; state: string; restarts: number }[]
  }

  new Gauge({
    name: 'kurir_jobs',
    help: 'Jobs by status, per session',
    labelNames: ['session', 'status'],
    registers: [registry],
    collect() {
      this.reset()
      if (!source) return
      const rows = source.db
        .prepare(`SELECT session_id, ${JOB_STATUSES.join(', ')} FROM queues`)
        .all() as Record<string, number | string>[]
      for (const row of rows) {
        for (const status of JOB_STATUSES) {
          this.set({ session: String(row['session_id']), status }, Number(row[status]))
        }
      }
    },
  })
  new Gauge({
    name: 'kurir_session_state',
    help: '1 for the state each session is in, 0 for the others',
    labelNames: ['session', 'state'],
    registers: [registry],
    collect() {
      this.reset()
      if (!source) return
      for (const row of liveSessions()) {
        for (const state of SESSION_STATES) this.set({ session: row.id, state }, row.state === state ? 1 : 0)
      }
    },
  })
  new Gauge({
    name: 'kurir_session_restarts',
    help: 'Restarts of each session over its life',
    labelNames: ['session'],
    registers: [registry],
    collect() {
      this.reset()
      if (!source) return
      for (const row of liveSessions()) this.set({ session: row.id }, row.restarts)
    },
  })
  new Gauge({
    name: 'kurir_event_log_position',
    help: 'Position of the last event appended: how many events the log has taken',
    registers: [registry],
    collect() {
      if (source) this.set(source.lastPosition())
    },
  })
  const commits = new Histogram({
    name: 'kurir_event_commit_seconds',
    help: 'Time of each group commit of appends to the event log',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  })
  const sends = new Counter({
    name: 'kurir_sends_total',
    help: 'Send attempts by outcome (sent, failed, rate_limited), per session',
    labelNames: ['session', 'outcome'],
    registers: [registry],
  })
  const failures = new Counter({
    name: 'kurir_send_failures_total',
    help: 'Failed send attempts by error class',
    labelNames: ['session', 'code', 'retryable'],
    registers: [registry],
  })
  const attempts = new Histogram({
    name: 'kurir_send_attempts',
    help: 'The attempt number a message was sent on',
    labelNames: ['session'],
    buckets: [1, 2, 3, 4, 5, 10],
    registers: [registry],
  })
  const enqueueToSend = new Histogram({
    name: 'kurir_enqueue_to_send_seconds',
    help: 'From the job being queued to its message being sent',
    labelNames: ['session'],
    buckets: [0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
    registers: [registry],
  })
  const http = new Histogram({
    name: 'kurir_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  })

  const openStreams = new Gauge({
    name: 'kurir_event_streams',
    help: 'Event streams (GET /api/events/stream) open now',
    registers: [registry],
  })
  const bufferedEvents = new Gauge({
    name: 'kurir_event_stream_buffered_events',
    help: 'Committed events held for event streams whose readers have not taken them yet',
    registers: [registry],
  })
  const streams: StreamMetrics = {
    opened: () => openStreams.inc(),
    closed: () => openStreams.dec(),
    buffered: (delta) => bufferedEvents.inc(delta),
  }

  const send: SendMetrics = {
    sent(session, attempt, enqueuedAtMs, nowMs) {
      sends.inc({ session, outcome: 'sent' })
      attempts.observe({ session }, attempt)
      enqueueToSend.observe({ session }, Math.max(0, nowMs - enqueuedAtMs) / 1000)
    },
    failed(session, code, retryable) {
      sends.inc({ session, outcome: 'failed' })
      failures.inc({ session, code, retryable: String(retryable) })
    },
    rateLimited(session) {
      sends.inc({ session, outcome: 'rate_limited' })
    },
  }

  return {
    registry,
    send,
    streams,
    /** Where the gauges read from, once the database is open. */
    watch(from: { db: Db; lastPosition: () => number }) {
      source = from
    },
    committed(_appends: number, seconds: number) {
      commits.observe(seconds)
    },
    request(method: string, route: string, status: number, seconds: number) {
      http.observe({ method, route, status: String(status) }, seconds)
    },
    contentType: registry.contentType,
    text: () => registry.metrics(),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
