-- The log keeps no index by event type. No read of Kurir's looks events up by type: pages go by
-- position, streams by (stream_id, version), and a rebuild reads whole streams. Each append still paid
-- for it: a third index entry per event, in a leaf of its own for every type a commit holds, which made
-- it the index with the most pages written per job sent.
DROP INDEX events_by_type;
