-- +goose Up
-- Usage rows are written with their check and priced afterwards in
-- batches (RollUpUsage): priced_at is NULL until the row has its amount
-- and is counted in the monthly, daily and spend rollups.
ALTER TABLE usage_events ADD COLUMN priced_at BIGINT;
UPDATE usage_events SET priced_at = occurred_at;
CREATE INDEX usage_unpriced ON usage_events (occurred_at, id) WHERE priced_at IS NULL;

-- +goose Down
DROP INDEX usage_unpriced;
ALTER TABLE usage_events DROP COLUMN priced_at;
