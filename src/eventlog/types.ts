// The shapes of events going into and coming out of the log.

export type JsonObject = { [key: string]: unknown }

/** Who asked for an event and why: carried by every event Kurir appends. */
export interface EventMetadata {
  correlationId?: string
  causationId?: string
  commandId?: string
  machineVersion?: number
  [key: string]: unknown
}

export interface NewEvent {
  type: string
  data: JsonObject
  schemaVersion?: number
  metadata?: EventMetadata
}

export interface StoredEvent {
  position: number
  eventId: string
  streamId: string
  streamType: string
  version: number
  type: string
  schemaVersion: number
  data: JsonObject
  metadata: EventMetadata
  createdAt: string
}

/** The version the caller last saw: a number, `'no_stream'` (0, the stream must not exist) or `'any'`. */
export type ExpectedVersion = number | 'no_stream' | 'any'

export type AppendResult =
  | { ok: true; streamId: string; nextVersion: number; events: StoredEvent[] }
  | {
      ok: false
      reason: 'VersionConflict'
      streamId: string
      expectedVersion: ExpectedVersion
      actualVersion: number
    }
  | { ok: false; reason: 'InvalidEvent'; streamId: string; message: string }

/** The stream type is the stream id's prefix: `job-01H…` → `job`. */
export const streamTypeOf = (streamId: string): string => {
  const dash = streamId.indexOf('-')
  return dash > 0 ? streamId.slice(0, dash) : streamId
}
