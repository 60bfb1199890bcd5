-- +goose Up
-- The sweeper's indexes hold only what it looks for: open checks and open
-- verifications (see the PostgreSQL migration of the same name).
CREATE INDEX checks_pending ON checks (updated_at) WHERE status = 'PENDING';
CREATE INDEX checks_awaiting ON checks (poll_after) WHERE status = 'AWAITING_PARTNER';
CREATE INDEX verifications_open_deadline ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
CREATE INDEX verifications_open_updated ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
DROP INDEX checks_open;
DROP INDEX checks_poll;
DROP INDEX verifications_open;
DROP INDEX verifications_sweep;

-- +goose Down
CREATE INDEX checks_open ON checks (status, updated_at);
CREATE INDEX checks_poll ON checks (status, poll_after);
CREATE INDEX verifications_open ON verifications (status, deadline_at);
CREATE INDEX verifications_sweep ON verifications (status, updated_at);
DROP INDEX checks_pending;
DROP INDEX checks_awaiting;
DROP INDEX verifications_open_deadline;
DROP INDEX verifications_open_updated;
