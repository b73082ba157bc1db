DROP TABLE IF EXISTS javari_backup_restores;
DROP TABLE IF EXISTS javari_backup_verifications;
DROP INDEX IF EXISTS idx_javari_backups_policy_started_at;
DELETE FROM javari_backups WHERE status IN ('corrupt', 'pruned');
ALTER TABLE javari_backups
    DROP CONSTRAINT javari_backups_complete_has_manifest_check,
    DROP CONSTRAINT javari_backups_status_check,
    DROP COLUMN policy,
    DROP COLUMN store_url,
    DROP COLUMN key_id,
    DROP COLUMN sealed_key,
    DROP COLUMN key_nonce,
    DROP COLUMN original_bytes,
    DROP COLUMN file_count,
    DROP COLUMN snapshot_at,
    DROP COLUMN duration_ms,
    DROP COLUMN schema_hash,
    DROP COLUMN verification_level,
    DROP COLUMN pruned_at,
    ADD CONSTRAINT javari_backups_status_check
        CHECK (status IN ('running', 'completed', 'failed', 'verified'));
