-- +goose NO TRANSACTION
-- +goose Up
-- The sweeper's partial indexes (20261127125000) made every lookup by id
-- that is guarded by a status ("... WHERE id = $2 AND status = 'PENDING'")
-- eligible to scan them instead of the primary key: the guard implies the
-- index predicate, and when the statistics were gathered while few rows
-- were open the planner prices that scan at one row. Under a backlog it
-- reads every open row, for each check started (seen: 270 buffers per
-- statement instead of 4). The full indexes they replaced had the same
-- flaw.
--
-- Each predicate now also states a bound that always holds (a time is
-- after the epoch; an awaited check has a poll time), which no guard
-- states, so that only the sweeper's queries, which state it, can use the
-- index. Built before the old ones are dropped, so the sweeper always has
-- an index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_pending_since ON checks (updated_at)
    WHERE status = 'PENDING' AND updated_at > 0;
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_awaiting_poll ON checks (poll_after)
    WHERE status = 'AWAITING_PARTNER' AND poll_after IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_deadline_at ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND deadline_at > 0;
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_since ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND updated_at > 0;
DROP INDEX CONCURRENTLY IF EXISTS checks_pending;
DROP INDEX CONCURRENTLY IF EXISTS checks_awaiting;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_deadline;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_updated;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_pending ON checks (updated_at) WHERE status = 'PENDING';
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_awaiting ON checks (poll_after) WHERE status = 'AWAITING_PARTNER';
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_deadline ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_updated ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
DROP INDEX CONCURRENTLY IF EXISTS checks_pending_since;
DROP INDEX CONCURRENTLY IF EXISTS checks_awaiting_poll;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_deadline_at;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_since;
