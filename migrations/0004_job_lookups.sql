-- Lookups of the message API: a send's idempotency key within its session, and a session's jobs newest
-- first (the job list's cursor is created_at, id).
CREATE INDEX jobs_idempotency ON jobs (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_session ON jobs (session_id, created_at, id);
