-- +goose Up
-- A check's sealed partner answer, recorded with its result (see the
-- PostgreSQL migration of the same name).
ALTER TABLE checks ADD COLUMN evidence BLOB;
ALTER TABLE checks ADD COLUMN evidence_sha256 TEXT NOT NULL DEFAULT '';

-- A completed verification records its bundle's manifest digest once the
-- bundle is written; the sweeper re-queues the score (which writes the
-- bundle) of one that has none, so that losing the task between the
-- outcome and its bundle loses no bundle. Verifications completed before
-- this column had their bundle written then: '' marks them.
ALTER TABLE verifications ADD COLUMN evidence_sha256 TEXT;
UPDATE verifications SET evidence_sha256 = '' WHERE status = 'COMPLETED';
CREATE INDEX verifications_unbundled ON verifications (completed_at)
    WHERE status = 'COMPLETED' AND evidence_sha256 IS NULL;

-- +goose Down
DROP INDEX verifications_unbundled;
ALTER TABLE verifications DROP COLUMN evidence_sha256;
ALTER TABLE checks DROP COLUMN evidence_sha256;
ALTER TABLE checks DROP COLUMN evidence;
