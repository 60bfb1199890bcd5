-- +goose Up
-- Times are BIGINT microseconds since the Unix epoch (UTC) on both backends.

CREATE TABLE insurers (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    country         TEXT NOT NULL,
    region          TEXT NOT NULL,
    mode            TEXT NOT NULL,             -- TEST: sandbox only; LIVE: live keys allowed
    retention_days  INTEGER NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}', -- JSON: default checks, deadlines, budget
    created_at      BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    insurer_id    TEXT NOT NULL REFERENCES insurers(id),
    name          TEXT NOT NULL DEFAULT '',
    prefix        TEXT NOT NULL,               -- visible part, for identification
    hash          BLOB NOT NULL UNIQUE,       -- SHA-256 of the whole key
    mode          TEXT NOT NULL,               -- LIVE | TEST
    scopes        TEXT NOT NULL,               -- space separated
    purposes      TEXT NOT NULL DEFAULT '',    -- space separated; empty: any
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);
CREATE INDEX api_keys_insurer ON api_keys (insurer_id, created_at);

-- Wrapped per-insurer data keys (vault).
CREATE TABLE insurer_keys (
    insurer_id  TEXT PRIMARY KEY REFERENCES insurers(id),
    wrapped     BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Append-only record of who touched which personal data, and why.
CREATE TABLE audit_log (
    id               TEXT PRIMARY KEY,
    insurer_id       TEXT NOT NULL,
    actor            TEXT NOT NULL,            -- key id, user id or "system"
    action           TEXT NOT NULL,
    verification_id  TEXT,
    purpose          TEXT NOT NULL DEFAULT '',
    request_id       TEXT NOT NULL DEFAULT '',
    detail           TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL
);
CREATE INDEX audit_log_insurer ON audit_log (insurer_id, id);
CREATE INDEX audit_log_verification ON audit_log (insurer_id, verification_id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE insurer_keys;
DROP TABLE api_keys;
DROP TABLE insurers;
