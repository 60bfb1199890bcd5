-- +goose Up
-- Risk policies: one immutable row per insurer and version; the highest
-- version is the insurer's current policy. An insurer without a row scores
-- with the built-in default (version 1).
CREATE TABLE risk_policies (
    insurer_id  TEXT NOT NULL REFERENCES insurers(id),
    version     INTEGER NOT NULL,
    policy      TEXT NOT NULL,                -- JSON of risk.Policy
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (insurer_id, version)
);

-- The sweeper looks for unscored verifications by status and age, and for
-- checks past their poll time.
CREATE INDEX verifications_sweep ON verifications (status, updated_at);
CREATE INDEX checks_poll ON checks (status, poll_after);

-- +goose Down
DROP INDEX checks_poll;
DROP INDEX verifications_sweep;
DROP TABLE risk_policies;
