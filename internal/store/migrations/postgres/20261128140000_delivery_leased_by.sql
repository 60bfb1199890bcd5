-- +goose Up
-- The process holding a delivery's lease for a first attempt it makes
-- itself (webhook.Service.Hold), by its liveness id: once that process is
-- gone, the sweeper takes the delivery over without waiting for the
-- lease to lapse. NULL for a lease a delivery task took.
ALTER TABLE webhook_deliveries ADD COLUMN leased_by TEXT;

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN leased_by;
