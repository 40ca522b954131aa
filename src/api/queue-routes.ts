// A session's queue over HTTP: pause, resume, clear, its config (changes applied live), stats.
import { OpenAPIHono, z } from '@hono/zod-openapi'
import type { QueueConfig } from '../../machines/queue-events.ts'
import type { Clock } from '../clock.ts'
import { streamIds } from '../core/aggregates.ts'
import type { CommandHandler } from '../core/command-handler.ts'
import { queueConfigSchema } from '../core/event-schemas.ts'
import { stateLabel } from '../core/fold.ts'
import { archiveFinishedJobs } from '../core/retention.ts'
import { IllegalStateError, NotFoundError } from '../errors.ts'
import type { Db } from '../eventlog/database.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import { queueStateReader } from '../projections/queue-state.ts'
import { DEFAULT_SESSION, type SessionManager } from '../runtime/session-manager.ts'
import type { ApiEnv } from './deps.ts'
import { errors } from './schemas.ts'
import { scoped } from './scoped.ts'
import { QueueCountsSchema } from './session-status.ts'

const ConfigBody = queueConfigSchema
  .partial()
  .strict()
  .refine((c) => Object.keys(c).length > 0, 'give at least one setting')
  .openapi('QueueConfigChange')

const ConfigSchema = z.object(queueConfigSchema.shape).openapi('QueueConfig')

const QueueSchema = z
  .object({
    sessionId: z.string(),
    paused: z.boolean(),
    coolingDownUntil: z.string().nullable(),
    config: queueConfigSchema,
    counts: QueueCountsSchema,
  })
  .openapi('Queue')

const StatsSchema = z
  .object({
    counts: QueueCountsSchema,
    successRate: z.number().nullable().openapi({ description: 'completed / (completed + failed)' }),
    sentLastMinute: z.number().int(),
  })
  .openapi('QueueStats')

const CleanBody = z
  .object({ olderThanDays: z.number().int().min(1).max(36_500) })
  .strict()
  .openapi('QueueClean')

const ArchivedSchema = z
  .object({
    jobs: z.number().int(),
    events: z.number().int(),
    finishedBefore: z.string(),
    file: z
      .string()
      .nullable()
      .openapi({ description: 'the archive file; null when nothing was old enough' }),
  })
  .openapi('Archived')

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })

export interface QueueRoutesDeps {
  db: Db
  store: EventStore
  commands: CommandHandler
  sessions: SessionManager
  clock: Clock
  /** Where archive files are written (DATA_DIR). */
  dataDir: string
}

/** How many of a session's jobs were sent since a time: counted in the index by status alone. */
export const SENT_SINCE_SQL =
  "SELECT count(*) FROM jobs INDEXED BY jobs_by_status WHERE status = 'completed' AND session_id = ? AND updated_at >= ?"

/**
 * @example
 * app.route('/', queueRoutes({ db, commands, sessions, clock }))
 */
export const queueRoutes = ({ db, store, commands, sessions, clock, dataDir }: QueueRoutesDeps) => {
  const app = new OpenAPIHono<ApiEnv>()
  const pending = db
    .prepare(
      "SELECT id FROM jobs INDEXED BY jobs_by_status WHERE status IN ('waiting', 'delayed') AND session_id = ?",
    )
    .pluck()
  const sentSince = db.prepare(SENT_SINCE_SQL).pluck()
  const at = () => new Date(clock.now()).toISOString()

  const mustExist = (sessionId: string) => {
    if (sessionId !== DEFAULT_SESSION && !sessions.exists(sessionId)) {
      throw new NotFoundError(`no session '${sessionId}'`, { details: { sessionId } })
    }
  }

  const stateOf = queueStateReader(db)
  const queueOf = (sessionId: string) => {
    const q = stateOf(sessionId)
    return {
      sessionId,
      paused: q.paused,
      coolingDownUntil: q.cooldownUntil,
      config: q.config,
      counts: { ...q.counts, paused: q.paused },
    }
  }

  const append = (sessionId: string, type: string, data: object = {}) =>
    commands.execute(streamIds.queue(sessionId), () => [{ type, data: { ...data, at: at() } }], {
      actor: 'operator',
    })

  const change = (sub: string, summary: string, act: (sessionId: string) => Promise<unknown>) =>
    scoped(
      app,
      {
        method: 'post',
        sub,
        tags: ['queue'],
        summary,
        admin: true,
        responses: { 200: { description: 'The queue now', ...json(QueueSchema) }, ...errors(401, 403, 404) },
      },
      async (c, sessionId) => {
        mustExist(sessionId)
        await act(sessionId)
        return c.json(queueOf(sessionId), 200)
      },
    )

  // Pausing a paused queue (or resuming a running one) changes nothing and is not an error. Decided on
  // the stream's state at the append, so that concurrent requests agree.
  const toggle = (sessionId: string, paused: boolean) =>
    commands.execute(
      streamIds.queue(sessionId),
      ({ snapshot }) =>
        stateLabel(snapshot.value).includes('flow.paused') === paused
          ? []
          : [{ type: paused ? 'QueuePaused' : 'QueueResumed', data: { at: at() } }],
      { actor: 'operator' },
    )
  change('/queue/pause', 'Pause sending; jobs keep waiting', (id) => toggle(id, true))
  change('/queue/resume', 'Resume sending', (id) => toggle(id, false))
  change('/queue/clear', 'Cancel every waiting and delayed job; active ones finish', async (id) => {
    let cancelled = 0
    for (const jobId of pending.all(id) as string[]) {
      try {
        await commands.execute(
          streamIds.job(jobId),
          () => [{ type: 'JobCancelled', data: { reason: 'the queue was cleared', at: at() } }],
          { actor: 'operator' },
        )
        cancelled++
      } catch (err) {
        // Started meanwhile: it finishes.
        if (!(err instanceof IllegalStateError)) throw err
      }
    }
    await append(id, 'QueueCleared', { cancelled })
  })

  scoped(
    app,
    {
      method: 'get',
      sub: '/queue/config',
      tags: ['queue'],
      summary: 'The queue settings',
      admin: false,
      responses: { 200: { description: 'The whole config', ...json(ConfigSchema) }, ...errors(401, 404) },
    },
    (c, sessionId) => {
      mustExist(sessionId)
      return c.json(stateOf(sessionId).config, 200)
    },
  )

  scoped(
    app,
    {
      method: 'post',
      sub: '/queue/config',
      tags: ['queue'],
      summary: 'Change the queue settings; applied at once, without a restart',
      admin: true,
      body: ConfigBody,
      responses: {
        200: { description: 'The whole config, changes applied', ...json(ConfigSchema) },
        ...errors(400, 401, 403, 404, 415),
      },
    },
    async (c, sessionId) => {
      mustExist(sessionId)
      const changes = (c.req.valid as (t: 'json') => Partial<QueueConfig>)('json')
      await append(sessionId, 'QueueConfigured', { changes })
      return c.json(stateOf(sessionId).config, 200)
    },
  )

  scoped(
    app,
    {
      method: 'post',
      sub: '/queue/clean',
      tags: ['queue'],
      summary:
        'Archive jobs finished more than olderThanDays ago to an NDJSON file and remove them from the live log',
      admin: true,
      body: CleanBody,
      responses: {
        200: { description: 'What was archived', ...json(ArchivedSchema) },
        ...errors(400, 401, 403, 404, 415),
      },
    },
    async (c, sessionId) => {
      mustExist(sessionId)
      const { olderThanDays } = (c.req.valid as (t: 'json') => z.infer<typeof CleanBody>)('json')
      const report = await archiveFinishedJobs(
        { db, store, commands, clock, dataDir },
        { olderThanDays, sessionId },
      )
      return c.json(report, 200)
    },
  )

  scoped(
    app,
    {
      method: 'get',
      sub: '/queue/stats',
      tags: ['queue'],
      summary: 'Counts by status, success rate, messages sent in the last minute',
      admin: false,
      responses: { 200: { description: 'Stats', ...json(StatsSchema) }, ...errors(401, 404) },
    },
    (c, sessionId) => {
      mustExist(sessionId)
      const { counts } = queueOf(sessionId)
      const finished = counts.completed + counts.failed
      return c.json(
        {
          counts,
          successRate: finished === 0 ? null : counts.completed / finished,
          sentLastMinute: sentSince.get(sessionId, new Date(clock.now() - 60_000).toISOString()) as number,
        },
        200,
      )
    },
  )

  return app
}
