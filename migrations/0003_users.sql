-- Who may use the API, and the refresh tokens handed to them. Not event-sourced: these rows are
-- credentials, not facts about messages, and `kurir replay` leaves them alone.

-- One row per person or script allowed in. Emails are stored lower-case; NOCASE makes the unique
-- constraint hold even for a row written by hand in another case. Only the bcrypt hash is kept.
CREATE TABLE users (
  id            TEXT PRIMARY KEY CHECK (length(id) = 26),
  email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'sender')),
  created_at    TEXT NOT NULL
);

-- Refresh tokens, by the hex SHA-256 of the token: the token itself is never stored, so a copy of the
-- database does not let anyone sign in.
--
-- family_id     every token rotated from one sign-in shares it; reuse of a spent token revokes the family
-- expires_at_ms milliseconds since the epoch, compared with the gateway's clock
-- spent_at      set when the token was exchanged for a new pair (rotation)
-- revoked_at    set on logout, on reuse of a spent token of the family, or on a password change
CREATE TABLE refresh_tokens (
  token_hash    TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
  family_id     TEXT    NOT NULL,
  user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  issued_at     TEXT,
  expires_at_ms INTEGER NOT NULL,
  spent_at      TEXT    NULL,
  revoked_at    TEXT    NULL
) WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
-- Also serves the ON DELETE CASCADE from users, which would otherwise scan the table.
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
