-- The append-only event log: the single source of truth. Every projection is rebuilt from it.
--
-- position   global order, never reused (AUTOINCREMENT keeps the high-water mark in sqlite_sequence)
-- version    per-stream, gapless from 1 (enforced by events_gapless_version below)
-- data/metadata must be JSON objects; times are ISO 8601 UTC strings.
CREATE TABLE events (
  position       INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id       TEXT    NOT NULL UNIQUE CHECK (length(event_id) = 26),
  stream_id      TEXT    NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
  stream_type    TEXT    NOT NULL CHECK (length(stream_type) BETWEEN 1 AND 50),
  version        INTEGER NOT NULL CHECK (version >= 1),
  type           TEXT    NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
  schema_version INTEGER NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
  data           TEXT    NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object'),
  metadata       TEXT    NOT NULL CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
  created_at     TEXT    NOT NULL,
  UNIQUE (stream_id, version)
);

CREATE INDEX events_by_type ON events (type, position);

-- A stream's versions run 1, 2, 3… with no gap, whoever writes.
CREATE TRIGGER events_gapless_version
BEFORE INSERT ON events
WHEN NEW.version <> 1 + coalesce((SELECT max(version) FROM events WHERE stream_id = NEW.stream_id), 0)
BEGIN
  SELECT RAISE(ABORT, 'events: stream version must follow the last one without a gap');
END;

-- Events are facts: they are never changed and never removed.
-- (A retention path, when one is added, will be its own documented migration.)
CREATE TRIGGER events_refuse_update
BEFORE UPDATE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;

CREATE TRIGGER events_refuse_delete
BEFORE DELETE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;
