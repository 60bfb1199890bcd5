-- +goose Up
-- Only the sweeper's queries, which state the always-true bound, may use
-- these indexes; a lookup by id guarded by a status goes by the primary key
-- (see the PostgreSQL migration of the same name).
CREATE INDEX checks_pending_since ON checks (updated_at)
    WHERE status = 'PENDING' AND updated_at > 0;
CREATE INDEX checks_awaiting_poll ON checks (poll_after)
    WHERE status = 'AWAITING_PARTNER' AND poll_after IS NOT NULL;
CREATE INDEX verifications_open_deadline_at ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND deadline_at > 0;
CREATE INDEX verifications_open_since ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER') AND updated_at > 0;
DROP INDEX checks_pending;
DROP INDEX checks_awaiting;
DROP INDEX verifications_open_deadline;
DROP INDEX verifications_open_updated;

-- +goose Down
CREATE INDEX checks_pending ON checks (updated_at) WHERE status = 'PENDING';
CREATE INDEX checks_awaiting ON checks (poll_after) WHERE status = 'AWAITING_PARTNER';
CREATE INDEX verifications_open_deadline ON verifications (deadline_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
CREATE INDEX verifications_open_updated ON verifications (updated_at)
    WHERE status IN ('QUEUED', 'RUNNING', 'AWAITING_PARTNER');
DROP INDEX checks_pending_since;
DROP INDEX checks_awaiting_poll;
DROP INDEX verifications_open_deadline_at;
DROP INDEX verifications_open_since;
