-- +goose Up
-- Webhook endpoints, one row per (event, endpoint) delivery, and every
-- attempt. A delivery's id is its Standard Webhooks message id. Signing
-- secrets are sealed by the vault under the endpoint's own subject key.

CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    insurer_id       TEXT NOT NULL REFERENCES insurers(id),
    mode             TEXT NOT NULL,               -- LIVE | TEST
    url              TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    events           TEXT NOT NULL,               -- space separated event types
    enabled          BOOLEAN NOT NULL,
    disabled_reason  TEXT NOT NULL DEFAULT '',    -- MANUAL | GONE | FAILING
    disabled_at      BIGINT,
    failing_since    BIGINT,                      -- first failure since the last success
    secret_key       BYTEA NOT NULL,              -- wrapped subject key (vault)
    secret           BYTEA NOT NULL,              -- sealed current secret
    previous_secret  BYTEA,                       -- sealed, signs until previous_until
    previous_until   BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_list ON webhook_endpoints (insurer_id, mode, id);

CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY,           -- also the webhook-id message id
    insurer_id        TEXT NOT NULL,
    mode              TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL,              -- outbox_events.id
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,              -- PENDING | SUCCEEDED | FAILED
    attempts          INTEGER NOT NULL DEFAULT 0, -- every attempt, across replays
    step              INTEGER NOT NULL DEFAULT 0, -- attempts in the current run of the schedule
    next_attempt_at   BIGINT,
    leased_until      BIGINT,
    last_attempt_at   BIGINT,
    last_status_code  INTEGER,
    last_error        TEXT NOT NULL DEFAULT '',
    flagged           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    completed_at      BIGINT
);
CREATE UNIQUE INDEX webhook_deliveries_event_endpoint ON webhook_deliveries (event_id, endpoint_id);
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (insurer_id, mode, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    number          INTEGER NOT NULL,
    insurer_id      TEXT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    status_code     INTEGER,                      -- NULL: no response
    latency_micros  BIGINT NOT NULL,
    response_body   BYTEA NOT NULL,               -- first 1 KiB
    error           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, number)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
