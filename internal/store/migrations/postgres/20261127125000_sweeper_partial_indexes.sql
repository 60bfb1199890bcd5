-- +goose NO TRANSACTION
-- +goose Up
-- The sweeper's indexes hold only what it looks for: open checks and open
-- verifications. Every row ends terminal, and a terminal row then costs no
-- entry in them on each of its updates (a check is updated at its start
-- and its answer, a verification three times). Built concurrently, each
-- before the index it replaces is dropped, so that a large table keeps
-- taking writes and the sweeper always has an index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_pending ON checks (updated_at) WHERE status = 'PENDING';
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_awaiting ON checks (poll_after) WHERE status = 'AWAITING_PARTNER';
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_deadline ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open_updated ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
DROP INDEX CONCURRENTLY IF EXISTS checks_open;
DROP INDEX CONCURRENTLY IF EXISTS checks_poll;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open;
DROP INDEX CONCURRENTLY IF EXISTS verifications_sweep;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_open ON checks (status, updated_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS checks_poll ON checks (status, poll_after);
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_open ON verifications (status, deadline_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS verifications_sweep ON verifications (status, updated_at);
DROP INDEX CONCURRENTLY IF EXISTS checks_pending;
DROP INDEX CONCURRENTLY IF EXISTS checks_awaiting;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_deadline;
DROP INDEX CONCURRENTLY IF EXISTS verifications_open_updated;
