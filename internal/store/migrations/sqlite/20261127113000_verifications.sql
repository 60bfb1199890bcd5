-- +goose Up
-- Verifications and their checks. Personal data lives only in sealed_pii
-- (AES-256-GCM under the verification's own key, itself wrapped by the
-- insurer key in wrapped_key); erasure deletes wrapped_key and sealed_pii.

CREATE TABLE verifications (
    id                  TEXT PRIMARY KEY,
    insurer_id          TEXT NOT NULL REFERENCES insurers(id),
    mode                TEXT NOT NULL,
    status              TEXT NOT NULL,
    external_reference  TEXT,
    idempotency_key     TEXT,
    request_hash        TEXT NOT NULL,            -- SHA-256 of the canonical input, for replays
    api_key_id          TEXT NOT NULL,
    product             TEXT NOT NULL DEFAULT '',
    coverage_country    TEXT NOT NULL DEFAULT '',
    policy_start        TEXT NOT NULL DEFAULT '',  -- calendar dates, not personal
    policy_end          TEXT NOT NULL DEFAULT '',
    wrapped_key         BLOB,
    sealed_pii          BLOB,
    metadata            TEXT NOT NULL DEFAULT '{}',
    deadline_at         BIGINT NOT NULL,
    decision            TEXT,
    score               INTEGER,
    band                TEXT,
    outcome             TEXT,                      -- JSON of the risk outcome (no personal data)
    provisional         INTEGER NOT NULL DEFAULT 0,
    policy_version      INTEGER,
    review_decision     TEXT,
    reviewed_by         TEXT,
    reviewed_at         BIGINT,
    review_note         TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    cancelled_at        BIGINT,
    erased_at           BIGINT,
    erased_by           TEXT,
    erase_reason        TEXT
);
CREATE UNIQUE INDEX verifications_idempotency ON verifications (insurer_id, mode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX verifications_list ON verifications (insurer_id, mode, id);
CREATE INDEX verifications_status ON verifications (insurer_id, mode, status, id);
CREATE INDEX verifications_external ON verifications (insurer_id, mode, external_reference);
CREATE INDEX verifications_review ON verifications (insurer_id, mode, decision, review_decision, id);
CREATE INDEX verifications_open ON verifications (status, deadline_at);

CREATE TABLE checks (
    id               TEXT PRIMARY KEY,
    verification_id  TEXT NOT NULL REFERENCES verifications(id),
    insurer_id       TEXT NOT NULL,
    type             TEXT NOT NULL,
    status           TEXT NOT NULL,
    partner          TEXT NOT NULL DEFAULT '',
    outcome          TEXT,                         -- CLEAR | CONSIDER | ALERT | UNAVAILABLE
    signals          TEXT NOT NULL DEFAULT '[]',    -- JSON risk signals (no personal data)
    reason           TEXT NOT NULL DEFAULT '',      -- why a check was skipped or failed
    partner_reference TEXT NOT NULL DEFAULT '',
    evidence_key     TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    poll_after       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    completed_at     BIGINT
);
CREATE INDEX checks_verification ON checks (verification_id);
CREATE INDEX checks_open ON checks (status, updated_at);

-- The consent ledger: one row per submission.
CREATE TABLE consents (
    id               TEXT PRIMARY KEY,
    insurer_id       TEXT NOT NULL,
    verification_id  TEXT NOT NULL REFERENCES verifications(id),
    reference        TEXT NOT NULL,
    obtained_at      BIGINT NOT NULL,
    lawful_basis     TEXT NOT NULL,
    purposes         TEXT NOT NULL,               -- space separated
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX consents_verification ON consents (verification_id);

-- Keyed HMACs of normalised identifiers, per insurer, so earlier uses of a
-- document or a person are found without decrypting anything.
CREATE TABLE blind_index (
    insurer_id       TEXT NOT NULL,
    kind             TEXT NOT NULL,               -- document | person
    digest           TEXT NOT NULL,
    verification_id  TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (insurer_id, kind, digest, verification_id)
);
CREATE INDEX blind_index_verification ON blind_index (verification_id);

-- Events written in the same transaction as the change that causes them;
-- published to webhooks and subscriptions after commit, swept if lost.
CREATE TABLE outbox_events (
    id               TEXT PRIMARY KEY,
    insurer_id       TEXT NOT NULL,
    mode             TEXT NOT NULL,
    type             TEXT NOT NULL,
    subject_id       TEXT NOT NULL,               -- the verification (or other) id
    payload          TEXT NOT NULL,               -- JSON, ids and outcomes only
    created_at       BIGINT NOT NULL,
    published_at     BIGINT
);
CREATE INDEX outbox_unpublished ON outbox_events (published_at, created_at);
CREATE INDEX outbox_subject ON outbox_events (insurer_id, subject_id);

-- One row per billable partner answer, written with the check's result.
CREATE TABLE usage_events (
    id                    TEXT PRIMARY KEY,
    insurer_id            TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    meter                 TEXT NOT NULL,
    quantity              BIGINT NOT NULL,
    partner               TEXT NOT NULL,
    partner_cost_minor    BIGINT NOT NULL,
    partner_cost_currency TEXT NOT NULL,
    verification_id       TEXT NOT NULL,
    check_id              TEXT NOT NULL UNIQUE,
    occurred_at           BIGINT NOT NULL,
    synced_at             BIGINT
);
CREATE INDEX usage_insurer_time ON usage_events (insurer_id, mode, occurred_at);
CREATE INDEX usage_unsynced ON usage_events (synced_at, occurred_at);

-- +goose Down
DROP TABLE usage_events;
DROP TABLE outbox_events;
DROP TABLE blind_index;
DROP TABLE consents;
DROP TABLE checks;
DROP TABLE verifications;
