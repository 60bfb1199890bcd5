-- +goose Up
-- usage_unsynced served the billing sync before usage_pending (mode,
-- occurred_at, partial on the rows still to sync) replaced it; no query
-- uses it any more, and every usage row paid for an entry in it, twice
-- (written, then priced).
DROP INDEX usage_unsynced;

-- +goose Down
CREATE INDEX usage_unsynced ON usage_events (synced_at, occurred_at);
