-- +goose Up
-- The process that last started a check's partner call, by the name its
-- beats go by (host:pid, as asynq names its servers): once that process is
-- seen to die, the checks it left PENDING are swept for at once, without
-- waiting for them to look stale. NULL for a check never started, or
-- started by a process without a name.
ALTER TABLE checks ADD COLUMN started_by TEXT;

-- +goose Down
ALTER TABLE checks DROP COLUMN started_by;
