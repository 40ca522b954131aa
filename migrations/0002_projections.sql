-- Read models. All of them are caches of the event log: `kurir replay rebuild` drops and refills them,
-- `kurir replay verify` rebuilds them aside and compares. They are written in the transaction that
-- appends the events they reflect.
--
-- Each stream's row also keeps its machine snapshot (machine_version, machine_state, context), from
-- which the next command is decided without folding the stream again. JSON columns are not CHECKed
-- here: only Kurir's projector writes them, and the log they come from is checked on append.

-- One row per message job.
CREATE TABLE jobs (
  id               TEXT PRIMARY KEY,
  session_id       TEXT    NOT NULL,
  status           TEXT    NOT NULL,
  priority         TEXT    NOT NULL,
  priority_rank    INTEGER NOT NULL,
  chat_id          TEXT    NOT NULL,
  body             TEXT    NOT NULL,
  attempts         INTEGER NOT NULL,
  max_attempts     INTEGER NOT NULL,
  last_error       TEXT,
  next_attempt_at  TEXT,
  send_at          TEXT,
  message_id       TEXT,
  idempotency_key  TEXT,
  duplicate_risk   INTEGER NOT NULL DEFAULT 0,
  version          INTEGER NOT NULL,
  machine_version  INTEGER NOT NULL,
  machine_state    TEXT    NOT NULL,
  context          TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  updated_at       TEXT    NOT NULL
) WITHOUT ROWID;

-- The dispatcher's order: by priority, then by age.
CREATE INDEX jobs_due ON jobs (session_id, status, priority_rank, created_at, id);
CREATE INDEX jobs_by_status ON jobs (status, updated_at);

-- One row per linked WhatsApp account.
CREATE TABLE sessions (
  id                    TEXT PRIMARY KEY,
  state                 TEXT    NOT NULL,
  since                 TEXT    NOT NULL,
  last_error            TEXT,
  consecutive_failures  INTEGER NOT NULL,
  restarts              INTEGER NOT NULL,
  phone_number          TEXT,
  version               INTEGER NOT NULL,
  machine_version       INTEGER NOT NULL,
  machine_state         TEXT    NOT NULL,
  context               TEXT    NOT NULL,
  created_at            TEXT    NOT NULL,
  updated_at            TEXT    NOT NULL
) WITHOUT ROWID;

-- One row per session's queue: its configuration, whether it is paused or cooling down, and the
-- number of jobs in each status. A queue whose stream has no event yet has no snapshot (version 0).
CREATE TABLE queues (
  session_id       TEXT PRIMARY KEY,
  paused           INTEGER NOT NULL DEFAULT 0,
  cooldown_until   TEXT,
  config           TEXT    NOT NULL,
  waiting          INTEGER NOT NULL DEFAULT 0,
  active           INTEGER NOT NULL DEFAULT 0,
  delayed          INTEGER NOT NULL DEFAULT 0,
  completed        INTEGER NOT NULL DEFAULT 0,
  failed           INTEGER NOT NULL DEFAULT 0,
  cancelled        INTEGER NOT NULL DEFAULT 0,
  version          INTEGER NOT NULL DEFAULT 0,
  machine_version  INTEGER,
  machine_state    TEXT,
  context          TEXT,
  updated_at       TEXT
) WITHOUT ROWID;

-- Persisted timers: every delayed transition a machine has armed, as a due time. Written in the
-- transaction of the event that armed it; the scheduler sleeps until the earliest.
CREATE TABLE timers (
  stream_id     TEXT    NOT NULL,
  timer_id      TEXT    NOT NULL,
  delay         TEXT    NOT NULL,
  fact_type     TEXT    NOT NULL,
  due_at        TEXT    NOT NULL,
  due_ms        INTEGER NOT NULL,
  armed_version INTEGER NOT NULL,
  PRIMARY KEY (stream_id, timer_id)
) WITHOUT ROWID;

CREATE INDEX timers_due ON timers (due_ms, stream_id, timer_id);
