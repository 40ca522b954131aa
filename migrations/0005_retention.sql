-- Retention: the one path by which events leave the live log. Finished jobs' streams are written to an
-- NDJSON archive file first; then, in one transaction, their stream ids are listed in `archiving`, their
-- events deleted, the list emptied, and an audit event appended to the queue's stream. A DELETE of any
-- event whose stream is not listed is still refused, and events are still never updated.
CREATE TABLE archiving (
  stream_id TEXT PRIMARY KEY
) WITHOUT ROWID;

DROP TRIGGER events_refuse_delete;

CREATE TRIGGER events_refuse_delete
BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM archiving WHERE stream_id = OLD.stream_id)
BEGIN
  SELECT RAISE(ABORT, 'events are append-only: DELETE refused outside the archive path');
END;
