-- A page of jobs in one status, newest first, read from an index in that order. Without it a page of
-- failed jobs walked every job of the session, newest first, to find the few that failed: on a table of
-- 400,000 jobs, about 200 ms with the event loop held. Only the statuses a job can stay in off the
-- sending path are kept here, so a message that goes waiting → active → completed never touches it:
-- waiting jobs are listed from jobs_waiting, active ones (a queue's concurrency at most) from
-- jobs_by_status, and completed ones, nearly every job of a long log, from jobs_by_session.
CREATE INDEX jobs_listed ON jobs (session_id, status, created_at, id)
  WHERE status IN ('delayed', 'failed', 'cancelled');
