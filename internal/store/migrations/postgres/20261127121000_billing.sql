-- +goose Up
-- Usage-based billing: the price catalogue, each insurer's billing account
-- (plan, Stripe customers, budget), rollups kept in the same transaction as
-- each usage row, budget notices, Stripe sync and reconciliation records,
-- and exports. Money is BIGINT minor units with an ISO 4217 currency.

-- What each usage row was billed, decided when it was recorded (graduated
-- tiers count the insurer's units of the meter in the calendar month), and
-- the Stripe sync state.
ALTER TABLE usage_events ADD COLUMN amount_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN currency TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_events ADD COLUMN plan_id TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_events ADD COLUMN sync_lease_until BIGINT;   -- a sync run holds the row until then
ALTER TABLE usage_events ADD COLUMN sync_skipped TEXT;         -- why the row will never be sent (too_old)
CREATE INDEX usage_pending ON usage_events (mode, occurred_at) WHERE synced_at IS NULL AND sync_skipped IS NULL;

CREATE TABLE billing_plans (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,   -- the plan of insurers without an account row
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX billing_plans_default ON billing_plans (is_default) WHERE is_default;

-- Graduated tiers: tier 0 prices units 1..up_to, tier 1 the next ones, and
-- so on; the last tier has no up_to.
CREATE TABLE billing_prices (
    plan_id     TEXT NOT NULL REFERENCES billing_plans(id),
    meter       TEXT NOT NULL,
    tier        INTEGER NOT NULL,
    up_to       BIGINT,
    unit_minor  BIGINT NOT NULL,
    PRIMARY KEY (plan_id, meter, tier)
);

CREATE TABLE billing_accounts (
    insurer_id               TEXT PRIMARY KEY REFERENCES insurers(id),
    plan_id                  TEXT NOT NULL REFERENCES billing_plans(id),
    stripe_customer_id       TEXT,                -- Stripe live mode
    stripe_test_customer_id  TEXT,                -- Stripe test mode, for sandbox usage
    budget_cap_minor         BIGINT,              -- NULL: no monthly cap
    budget_currency          TEXT NOT NULL DEFAULT '',
    budget_hard              BOOLEAN NOT NULL DEFAULT FALSE,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);

-- Running totals per calendar month (UTC); month is the micros of its first
-- instant. quantity positions the next unit in the graduated tiers.
CREATE TABLE usage_monthly (
    insurer_id    TEXT NOT NULL,
    mode          TEXT NOT NULL,
    month         BIGINT NOT NULL,
    meter         TEXT NOT NULL,
    quantity      BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    PRIMARY KEY (insurer_id, mode, month, meter)
);

-- The month's spend over every meter: what budgets compare with.
CREATE TABLE usage_spend (
    insurer_id    TEXT NOT NULL,
    mode          TEXT NOT NULL,
    month         BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    PRIMARY KEY (insurer_id, mode, month)
);

-- The daily rollup the finance queries read; day is the micros of UTC
-- midnight.
CREATE TABLE usage_daily (
    insurer_id             TEXT NOT NULL,
    mode                   TEXT NOT NULL,
    day                    BIGINT NOT NULL,
    meter                  TEXT NOT NULL,
    partner                TEXT NOT NULL,
    quantity               BIGINT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    currency               TEXT NOT NULL,
    partner_cost_minor     BIGINT NOT NULL,
    partner_cost_currency  TEXT NOT NULL,
    PRIMARY KEY (insurer_id, mode, day, meter, partner)
);
CREATE INDEX usage_daily_day ON usage_daily (mode, day);

-- One row per insurer, month and threshold (percent of the cap): the
-- usage.budget_threshold event is emitted once.
CREATE TABLE budget_notices (
    insurer_id   TEXT NOT NULL,
    month        BIGINT NOT NULL,
    threshold    INTEGER NOT NULL,
    event_id     TEXT NOT NULL,
    spend_minor  BIGINT NOT NULL,
    cap_minor    BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (insurer_id, month, threshold)
);

-- Stripe meters found or created by `admin billing setup`.
CREATE TABLE billing_stripe_meters (
    mode             TEXT NOT NULL,
    meter            TEXT NOT NULL,
    stripe_meter_id  TEXT NOT NULL,
    event_name       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (mode, meter)
);

CREATE TABLE billing_sync_runs (
    id           TEXT PRIMARY KEY,
    mode         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    claimed      BIGINT NOT NULL DEFAULT 0,
    accepted     BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0,
    too_old      BIGINT NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX billing_sync_runs_started ON billing_sync_runs (started_at);

-- Usage rows that could not be sent to Stripe and why (too_old: outside
-- Stripe's 35-day window for meter events; rejected: Stripe refused it).
CREATE TABLE billing_sync_issues (
    usage_id     TEXT PRIMARY KEY,
    insurer_id   TEXT NOT NULL,
    mode         TEXT NOT NULL,
    meter        TEXT NOT NULL,
    quantity     BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    occurred_at  BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX billing_sync_issues_recorded ON billing_sync_issues (recorded_at);

CREATE TABLE reconciliation_runs (
    id            TEXT PRIMARY KEY,
    mode          TEXT NOT NULL,
    period_start  BIGINT NOT NULL,
    period_end    BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    compared      INTEGER NOT NULL DEFAULT 0,
    differences   INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reconciliation_runs_started ON reconciliation_runs (started_at);

CREATE TABLE reconciliation_differences (
    run_id              TEXT NOT NULL REFERENCES reconciliation_runs(id),
    insurer_id          TEXT NOT NULL,
    meter               TEXT NOT NULL,
    stripe_customer_id  TEXT NOT NULL,
    ledger_quantity     BIGINT NOT NULL,   -- every usage row of the period
    synced_quantity     BIGINT NOT NULL,   -- the rows Stripe accepted
    stripe_quantity     BIGINT NOT NULL,   -- Stripe's meter event summary
    PRIMARY KEY (run_id, insurer_id, meter)
);

CREATE TABLE usage_exports (
    id           TEXT PRIMARY KEY,
    insurer_id   TEXT NOT NULL,
    mode         TEXT NOT NULL,
    period_from  BIGINT NOT NULL,
    period_to    BIGINT NOT NULL,
    format       TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    row_count    BIGINT NOT NULL,
    byte_count   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX usage_exports_insurer ON usage_exports (insurer_id, created_at);

-- The standard plan (EUR). Graduated per calendar month and meter.
INSERT INTO billing_plans (id, name, currency, is_default, created_at, updated_at)
    VALUES ('standard', 'Standard', 'EUR', TRUE, 1795781400000000, 1795781400000000);
INSERT INTO billing_prices (plan_id, meter, tier, up_to, unit_minor) VALUES
    ('standard', 'document_registry_checks', 0, 1000, 40),
    ('standard', 'document_registry_checks', 1, 10000, 32),
    ('standard', 'document_registry_checks', 2, NULL, 25),
    ('standard', 'immigration_status_checks', 0, 1000, 130),
    ('standard', 'immigration_status_checks', 1, 10000, 110),
    ('standard', 'immigration_status_checks', 2, NULL, 90),
    ('standard', 'border_movement_checks', 0, 1000, 90),
    ('standard', 'border_movement_checks', 1, 10000, 75),
    ('standard', 'border_movement_checks', 2, NULL, 60),
    ('standard', 'watchlist_screenings', 0, 1000, 25),
    ('standard', 'watchlist_screenings', 1, 10000, 18),
    ('standard', 'watchlist_screenings', 2, NULL, 12);

-- +goose Down
DROP TABLE usage_exports;
DROP TABLE reconciliation_differences;
DROP TABLE reconciliation_runs;
DROP TABLE billing_sync_issues;
DROP TABLE billing_sync_runs;
DROP TABLE billing_stripe_meters;
DROP TABLE budget_notices;
DROP TABLE usage_daily;
DROP TABLE usage_spend;
DROP TABLE usage_monthly;
DROP TABLE billing_accounts;
DROP TABLE billing_prices;
DROP TABLE billing_plans;
DROP INDEX usage_pending;
ALTER TABLE usage_events DROP COLUMN sync_skipped;
ALTER TABLE usage_events DROP COLUMN sync_lease_until;
ALTER TABLE usage_events DROP COLUMN plan_id;
ALTER TABLE usage_events DROP COLUMN currency;
ALTER TABLE usage_events DROP COLUMN amount_minor;
