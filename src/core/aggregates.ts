// The three kinds of stream and what Kurir knows of each: its machine, its facts, its timers.
// (No schemas here: rebuild workers load this module, and the schemas stay with the command handler.)
import { JOB_EVENT_TYPES } from '../../machines/job-events.ts'
import { JOB_MACHINE_VERSION, jobMachine } from '../../machines/job-machine.ts'
import { QUEUE_EVENT_TYPES } from '../../machines/queue-events.ts'
import { QUEUE_MACHINE_VERSION, queueMachine } from '../../machines/queue-machine.ts'
import { SESSION_EVENT_TYPES } from '../../machines/session-events.ts'
import { SESSION_MACHINE_VERSION, sessionMachine } from '../../machines/session-machine.ts'
import { ReplayError, ValidationError } from '../errors.ts'
import { streamTypeOf } from '../eventlog/types.ts'
import { compileFolder } from './compiled-fold.ts'
import { createFolder, type Folder } from './fold.ts'

export type StreamType = 'job' | 'session' | 'queue'

export interface Aggregate {
  streamType: StreamType
  machineVersion: number
  /** Folds with xstate: commands, traces, streams restored from their rows. */
  folder: Folder
  /** Folds a whole log for rebuild: the compiled folder when the machine is flat, else `folder`. */
  rebuildFolder: Folder
  /** For each delay the machine declares, the fact appended when its persisted timer fires. */
  timerFacts: Record<string, string>
  /** Every event type of this stream (schema version 1); src/core/event-schemas.ts has their shapes. */
  eventTypes: ReadonlySet<string>
}

const aggregate = (
  streamType: StreamType,
  machine: Folder['machine'],
  machineVersion: number,
  timerFacts: Record<string, string>,
  eventTypes: readonly string[],
): Aggregate => {
  const folder = createFolder(machine, timerFacts)
  const compiled = compileFolder(machine, timerFacts)
  return {
    streamType,
    machineVersion,
    folder,
    rebuildFolder: 'folder' in compiled ? compiled.folder : folder,
    timerFacts,
    eventTypes: new Set(eventTypes),
  }
}

export const aggregates: Record<StreamType, Aggregate> = {
  job: aggregate('job', jobMachine, JOB_MACHINE_VERSION, { untilDue: 'JobDue' }, JOB_EVENT_TYPES),
  session: aggregate(
    'session',
    sessionMachine,
    SESSION_MACHINE_VERSION,
    {
      qrTimeout: 'SessionQrExpired',
      authTimeout: 'SessionAuthTimedOut',
      startTimeout: 'SessionStartTimedOut',
      keepalive: 'SessionKeepaliveDue',
      probeTimeout: 'SessionProbeTimedOut',
      restartBackoff: 'SessionRestartDue',
    },
    SESSION_EVENT_TYPES,
  ),
  queue: aggregate(
    'queue',
    queueMachine,
    QUEUE_MACHINE_VERSION,
    { cooldown: 'QueueCooldownEnded' },
    QUEUE_EVENT_TYPES,
  ),
}

export const CURRENT_SCHEMA_VERSION = 1

export const aggregateOf = (streamId: string): Aggregate => {
  const type = streamTypeOf(streamId)
  const found = (aggregates as Record<string, Aggregate | undefined>)[type]
  if (!found) throw new ValidationError(`unknown stream type '${type}' in stream id '${streamId}'`)
  return found
}

export const streamIds = {
  job: (jobId: string) => `job-${jobId}`,
  session: (sessionId: string) => `session-${sessionId}`,
  queue: (sessionId: string) => `queue-${sessionId}`,
} as const

/** The id after the stream type's prefix: `session-default` → `default`. */
export const entityIdOf = (streamId: string): string => streamId.slice(streamId.indexOf('-') + 1)

/** Refuses an event the log should never hold: unknown type or schema version for its stream. */
export const assertReadable = (
  event: { position: number; streamId: string; type: string; schemaVersion: number },
  agg: Aggregate | undefined,
): Aggregate => {
  if (agg?.eventTypes.has(event.type) && event.schemaVersion === CURRENT_SCHEMA_VERSION) return agg
  const where = `event at position ${event.position} (${event.type} in ${event.streamId})`
  if (!agg) throw new ReplayError(`${where}: unknown stream type '${streamTypeOf(event.streamId)}'`)
  if (!agg.eventTypes.has(event.type)) throw new ReplayError(`${where}: unknown event type '${event.type}'`)
  throw new ReplayError(
    `${where}: schema version ${event.schemaVersion} is not known to this version of Kurir`,
  )
}
