// Turns an `events` row into a StoredEvent; a row that does not parse is named, never skipped.
import { ReplayError } from '../errors.ts'
import type { JsonObject, StoredEvent } from './types.ts'

export interface EventRow {
  position: number
  event_id: string
  stream_id: string
  stream_type: string
  version: number
  type: string
  schema_version: number
  data: string
  metadata: string
  created_at: string
}

export const EVENT_COLUMNS =
  'position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at'

export const parseJsonObject = (
  text: string,
  row: { position: number; stream_id: string; type: string },
  field: string,
): JsonObject => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ReplayError(
      `event at position ${row.position} (${row.type} in ${row.stream_id}) has corrupt JSON in its ${field}`,
      { cause: err },
    )
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ReplayError(
      `event at position ${row.position} (${row.type} in ${row.stream_id}): ${field} is not a JSON object`,
    )
  }
  return value as JsonObject
}

export const decodeEvent = (row: EventRow): StoredEvent => ({
  position: row.position,
  eventId: row.event_id,
  streamId: row.stream_id,
  streamType: row.stream_type,
  version: row.version,
  type: row.type,
  schemaVersion: row.schema_version,
  data: parseJsonObject(row.data, row, 'data'),
  metadata: parseJsonObject(row.metadata, row, 'metadata'),
  createdAt: row.created_at,
})
