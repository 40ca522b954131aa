// Decide, then append: a command's facts are folded against the stream's snapshot; if the machine takes
// them all they are appended with the expected version and projected in the same transaction.
import type { Clock } from '../clock.ts'
import { ConcurrencyError, IllegalStateError } from '../errors.ts'
import type { EventStore } from '../eventlog/event-store.ts'
import type { EventMetadata, JsonObject, StoredEvent } from '../eventlog/types.ts'
import type { IdSource } from '../ids.ts'
import type { Projector, TimerRow } from '../projections/projector.ts'
import { type Aggregate, aggregateOf } from './aggregates.ts'
import { eventSchemasOf } from './event-schemas.ts'
import { type Snapshot, type Step, stateLabel } from './fold.ts'
import { loadStream } from './load-stream.ts'
import { oneAtATime } from './one-at-a-time.ts'
import { atMsOf, collectTimerChanges, splitTimerChanges } from './timer-changes.ts'

/** A fact a command proposes: its type and data (which always carries `at`). */
export interface Fact {
  type: string
  data: JsonObject
}

export interface CurrentStream {
  streamId: string
  aggregate: Aggregate
  snapshot: Snapshot
  /** 0 when the stream does not exist yet. */
  version: number
  /** The instant the command is decided at, from the clock. */
  now: number
  /** A random sample in [0, 1): jitter is decided here, before the append, and kept in the event. */
  random: () => number
}

export interface CommandMeta {
  commandId?: string
  correlationId?: string
  causationId?: string
  /** The user or component that asked. */
  actor?: string
}

export interface ExecuteOptions {
  /**
   * More writes for the append's own transaction, after the projections: they commit with the events or
   * not at all. Only the retention path uses it.
   */
  alsoInTransaction?: () => void
}

export interface CommandResult {
  streamId: string
  version: number
  events: StoredEvent[]
  steps: Step[]
  snapshot: Snapshot
}

export interface CommandHandler {
  /**
   * Loads the stream, asks `decide` for facts, folds them (refusing with IllegalStateError if the machine
   * does not take one) and appends them. Retries the whole decision on a concurrent write.
   *
   * @example
   * await commands.execute('job-01H…', () => [{ type: 'JobCancelled', data: { reason: 'by user', at } }])
   */
  execute(
    streamId: string,
    decide: (current: CurrentStream) => Fact[],
    meta?: CommandMeta,
    options?: ExecuteOptions,
  ): Promise<CommandResult>
  load(streamId: string): Omit<CurrentStream, 'now' | 'random'>
}

export interface CommandHandlerDeps {
  store: EventStore
  projector: Projector
  clock: Clock
  newId: IdSource
  random?: () => number
  maxRetries?: number
}

export const createCommandHandler = ({
  store,
  projector,
  clock,
  newId,
  random = Math.random,
  maxRetries = 5,
}: CommandHandlerDeps): CommandHandler => {
  const load = (streamId: string) => loadStream(store, aggregateOf(streamId), streamId)

  const decideAndAppend: CommandHandler['execute'] = async (streamId, decide, meta = {}, options = {}) => {
    const commandId = meta.commandId ?? newId()
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      const current = load(streamId)
      const { aggregate } = current
      const facts = decide({ ...current, now: clock.now(), random })
      const steps: Step[] = []
      let snapshot = current.snapshot
      const timers = new Map<string, TimerRow | null>()
      facts.forEach((fact, i) => {
        const schema = eventSchemasOf[aggregate.streamType][fact.type]
        if (!schema) throw new Error(`${fact.type} is not an event of ${aggregate.streamType} streams`)
        schema.parse(fact.data)
        const step = aggregate.folder.step(snapshot, fact.type, fact.data)
        if (!step.accepted) {
          throw new IllegalStateError(
            `${fact.type} is not allowed while ${aggregate.streamType} ${streamId} is ${stateLabel(snapshot.value) || 'new'}`,
            { details: { streamId, state: stateLabel(snapshot.value), event: fact.type } },
          )
        }
        collectTimerChanges(timers, aggregate, step, atMsOf(fact.data), current.version + i + 1)
        steps.push(step)
        snapshot = step.after
      })
      if (facts.length === 0) return { streamId, version: current.version, events: [], steps, snapshot }
      const metadata: EventMetadata = {
        commandId,
        correlationId: meta.correlationId ?? commandId,
        ...(meta.causationId ? { causationId: meta.causationId } : {}),
        ...(meta.actor ? { actor: meta.actor } : {}),
        machineVersion: aggregate.machineVersion,
      }
      const result = await store.append(
        streamId,
        facts.map((f) => ({ type: f.type, data: f.data, metadata })),
        {
          expectedVersion: current.version,
          streamType: aggregate.streamType,
          inTransaction: (events) => {
            projector.apply({
              aggregate,
              streamId,
              version: events.at(-1)?.version ?? current.version,
              before: current.version === 0 ? null : current.snapshot,
              after: snapshot,
              timers: splitTimerChanges(timers),
            })
            options.alsoInTransaction?.()
          },
        },
      )
      if (result.ok) return { streamId, version: result.nextVersion, events: result.events, steps, snapshot }
      if (result.reason === 'InvalidEvent')
        throw new Error(`could not append to ${streamId}: ${result.message}`)
    }
    throw new ConcurrencyError(`${streamId} kept changing under concurrent writers; try again`)
  }

  // Commands on one stream run one after another in this process: each decides on the state the one
  // before it left, so concurrent requests (two pauses, two clears) never race each other into a
  // version conflict. Other streams are not held up. The retry above still covers other processes.
  const inTurn = oneAtATime()
  const execute: CommandHandler['execute'] = (streamId, decide, meta, options) =>
    inTurn(streamId, () => decideAndAppend(streamId, decide, meta, options))

  return { execute, load }
}
