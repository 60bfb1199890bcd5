-- +goose Up
-- A check's sealed partner answer is recorded with its result, in the same
-- transaction, and the verification's evidence bundle is written from it as
-- one object when the verification completes (it used to be one blob per
-- answer, written before the result, plus two for the manifest). The digest
-- is the SHA-256 (hex) of the sealed bytes, as the bundle's manifest lists
-- it. Both columns are added without a default that rewrites the table.
ALTER TABLE checks ADD COLUMN evidence BYTEA;
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
