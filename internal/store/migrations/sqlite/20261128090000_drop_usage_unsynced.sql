-- +goose Up
-- usage_unsynced served the billing sync before usage_pending replaced
-- it; no query uses it any more.
DROP INDEX usage_unsynced;

-- +goose Down
CREATE INDEX usage_unsynced ON usage_events (synced_at, occurred_at);
