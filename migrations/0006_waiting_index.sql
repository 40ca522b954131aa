-- The dispatcher's order, kept for waiting jobs only: by priority, then by age. Finished jobs, nearly all
-- of them in a long-running log, no longer carry an entry they are never looked up by, and a job's row
-- enters and leaves this index once instead of at every change of status. Lookups of other statuses
-- (active ones at start, waiting and delayed ones to clear, finished ones for statistics) go through
-- jobs_by_status.
DROP INDEX jobs_due;
CREATE INDEX jobs_waiting ON jobs (session_id, priority_rank, created_at, id) WHERE status = 'waiting';
