// The machines as the dashboard draws them: their definitions as SVG diagrams, and any stream replayed
// event by event with the state after each (the replay slider). Everything is read from the machine
// definitions and the event log; nothing here runs an effect.

import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { aggregates, type StreamType } from '../core/aggregates.ts'
import { traceTail } from '../core/trace.ts'
import { activePaths, machineDiagram, statePaths } from '../diagram/machine-diagram.ts'
import { NotFoundError } from '../errors.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import type { ApiEnv } from './deps.ts'
import { bearer, errors, queryInt } from './schemas.ts'

const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } })

const MACHINE_NAMES = ['job', 'session', 'queue'] as const satisfies readonly StreamType[]

const MachineSchema = z
  .object({
    name: z.enum(MACHINE_NAMES),
    id: z.string().openapi({ description: "the machine's id in its definition" }),
    version: z.number().int().openapi({ description: 'the machine version events are stamped with' }),
    states: z.array(z.string()).openapi({ description: 'every state, as a dotted path' }),
  })
  .openapi('Machine')

const MachineParams = z.object({
  name: z.enum(MACHINE_NAMES).openapi({ param: { name: 'name', in: 'path' }, example: 'job' }),
})

const StreamParams = z.object({
  streamId: z
    .string()
    .max(200)
    .regex(/^(job|session|queue)-[A-Za-z0-9_-]+$/, 'a stream id such as job-01J… or session-default')
    .openapi({ param: { name: 'streamId', in: 'path' }, example: 'session-default' }),
})

const TraceQuery = z.object({
  limit: queryInt(1, 5000)
    .default(1000)
    .openapi({ description: 'the last this many steps (the whole stream is still folded)' }),
})

const StepSchema = z
  .object({
    position: z.number().int(),
    version: z.number().int(),
    type: z.string(),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    before: z.string().openapi({ description: 'the state before the event' }),
    after: z.string().openapi({ description: 'the state after the event' }),
    value: z.unknown().openapi({ description: "the machine's state value after the event" }),
    activeStates: z.array(z.string()).openapi({ description: 'the dotted paths active after the event' }),
    machineEvent: z
      .string()
      .openapi({ description: "the event the machine took (a timer's fact is its delayed transition)" }),
    accepted: z.boolean(),
    effects: z.array(z.string()).openapi({ description: 'the effects the machine asked for' }),
    timers: z.array(z.string()).openapi({ description: 'timers armed or cancelled' }),
  })
  .openapi('TraceStep')

const TraceSchema = z
  .object({
    streamId: z.string(),
    machine: z.enum(MACHINE_NAMES),
    total: z.number().int().openapi({ description: 'events in the stream' }),
    steps: z.array(StepSchema),
  })
  .openapi('Trace')

/**
 * @example
 * app.route('/', machineRoutes({ store }))
 */
export const machineRoutes = ({ store }: { store: EventStore }) => {
  const app = new OpenAPIHono<ApiEnv>()
  // Drawn once: the definitions do not change while the process runs.
  const diagrams = new Map<string, string>()
  const diagramOf = (name: StreamType) => {
    let svg = diagrams.get(name)
    if (svg === undefined) {
      svg = machineDiagram(aggregates[name].folder.machine, { title: `${name} machine` })
      diagrams.set(name, svg)
    }
    return svg
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/machines',
      tags: ['machines'],
      summary: 'The state machines: their ids, versions and states',
      security: bearer,
      responses: {
        200: { description: 'Machines', ...json(z.object({ machines: z.array(MachineSchema) })) },
        ...errors(401),
      },
    }),
    (c) =>
      c.json(
        {
          machines: MACHINE_NAMES.map((name) => {
            const { folder, machineVersion } = aggregates[name]
            return {
              name,
              id: folder.machine.id,
              version: machineVersion,
              states: statePaths(folder.machine),
            }
          }),
        },
        200,
      ),
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/machines/{name}/diagram.svg',
      tags: ['machines'],
      summary: "A machine's state diagram, drawn from its definition (each state is g.state[data-state])",
      security: bearer,
      request: { params: MachineParams },
      responses: {
        200: { description: 'SVG', content: { 'image/svg+xml': { schema: z.string() } } },
        ...errors(400, 401),
      },
    }),
    (c) => {
      const { name } = c.req.valid('param')
      return c.body(diagramOf(name), 200, {
        'Content-Type': 'image/svg+xml; charset=utf-8',
        'Cache-Control': 'private, max-age=300',
      })
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/streams/{streamId}/trace',
      tags: ['machines'],
      summary: 'Replay one stream: every event with the state before and after it',
      security: bearer,
      request: { params: StreamParams, query: TraceQuery },
      responses: {
        200: { description: 'The steps, oldest first', ...json(TraceSchema) },
        ...errors(400, 401, 404),
      },
    }),
    async (c) => {
      const { streamId } = c.req.valid('param')
      const { limit } = c.req.valid('query')
      const { total, steps: tail } = await traceTail(store, streamId, limit)
      if (total === 0) throw new NotFoundError(`no stream '${streamId}'`, { details: { streamId } })
      const machine = streamId.slice(0, streamId.indexOf('-')) as StreamType
      const steps = tail.map(({ line, machineEvent }) => ({
        position: line.event.position,
        version: line.event.version,
        type: line.event.type,
        data: line.event.data,
        createdAt: line.event.createdAt,
        before: line.before,
        after: line.after,
        value: line.snapshot.value as unknown,
        activeStates: activePaths(line.snapshot.value),
        machineEvent: machineEvent.type,
        accepted: line.accepted,
        effects: line.effects.map((e) => e.type),
        timers: line.timers.map((t) =>
          t.kind === 'armed' ? `armed ${t.delay} (${t.delayMs} ms)` : `cancelled ${t.timerId}`,
        ),
      }))
      return c.json({ streamId, machine, total, steps }, 200)
    },
  )

  return app
}
