-- The data dictionary for the tables and columns added after 20261128150100: backups and
-- their verification and restores, the change log, and the health-check rollups.

COMMENT ON TABLE javari_backup_restores IS 'A restore of a backup: into a new database, or in place after a second admin approved it.';
COMMENT ON COLUMN javari_backup_restores.id IS 'Primary key (UUID).';
COMMENT ON COLUMN javari_backup_restores.backup_id IS 'The backup restored (javari_backups.id).';
COMMENT ON COLUMN javari_backup_restores.mode IS 'new (into a database that does not exist yet) or in_place (needs approved_by).';
COMMENT ON COLUMN javari_backup_restores.status IS 'requested, approved, running, completed or failed.';
COMMENT ON COLUMN javari_backup_restores.target_database IS 'Database the backup is restored into.';
COMMENT ON COLUMN javari_backup_restores.requested_by IS 'Email of the admin who asked for the restore.';
COMMENT ON COLUMN javari_backup_restores.approved_by IS 'Email of the second admin who approved an in-place restore.';
COMMENT ON COLUMN javari_backup_restores.restore_ms IS 'Time the restore took, in milliseconds (the RTO achieved).';
COMMENT ON COLUMN javari_backup_restores.error IS 'Why the restore failed (no secrets).';
COMMENT ON COLUMN javari_backup_restores.created_at IS 'When the restore was requested.';
COMMENT ON COLUMN javari_backup_restores.finished_at IS 'When the restore ended.';

COMMENT ON TABLE javari_backup_verifications IS 'One verification of a backup at one level of the ladder: checksums, catalog (pg_restore --list) or drill.';
COMMENT ON COLUMN javari_backup_verifications.id IS 'Primary key (UUID).';
COMMENT ON COLUMN javari_backup_verifications.backup_id IS 'The backup verified (javari_backups.id).';
COMMENT ON COLUMN javari_backup_verifications.level IS 'checksums, catalog or drill.';
COMMENT ON COLUMN javari_backup_verifications.ok IS 'Whether this level passed.';
COMMENT ON COLUMN javari_backup_verifications.detail IS 'What was checked or what differed (the object or file named).';
COMMENT ON COLUMN javari_backup_verifications.scratch_database IS 'The scratch database a drill restored into (dropped afterwards).';
COMMENT ON COLUMN javari_backup_verifications.restore_ms IS 'A drill''s restore time, in milliseconds (the RTO achieved).';
COMMENT ON COLUMN javari_backup_verifications.bytes_per_second IS 'A drill''s restore throughput.';
COMMENT ON COLUMN javari_backup_verifications.started_at IS 'When the verification started.';
COMMENT ON COLUMN javari_backup_verifications.finished_at IS 'When the verification ended.';

COMMENT ON COLUMN javari_backups.policy IS 'namespace/name of the BackupPolicy that took the backup.';
COMMENT ON COLUMN javari_backups.store_url IS 'Object store prefix of the backup''s files and manifest (never with keys).';
COMMENT ON COLUMN javari_backups.key_id IS 'Vault master key that sealed the backup''s data key.';
COMMENT ON COLUMN javari_backups.sealed_key IS 'The backup''s AES-256-GCM data key, sealed by the vault.';
COMMENT ON COLUMN javari_backups.key_nonce IS 'Nonce of the sealed data key.';
COMMENT ON COLUMN javari_backups.snapshot_at IS 'Time of the exported snapshot the dump reads (the recovery point).';
COMMENT ON COLUMN javari_backups.schema_hash IS 'Hash of the dumped schema, compared by drills.';
COMMENT ON COLUMN javari_backups.file_count IS 'Files in the backup (pg_dump directory format).';
COMMENT ON COLUMN javari_backups.original_bytes IS 'Size of the dump before compression and encryption.';
COMMENT ON COLUMN javari_backups.duration_ms IS 'Time the backup took, in milliseconds.';
COMMENT ON COLUMN javari_backups.verification_level IS 'Highest level verified: none, checksums, catalog or drill.';
COMMENT ON COLUMN javari_backups.pruned_at IS 'When retention removed the backup''s objects (the row stays as history).';

COMMENT ON TABLE javari_change_log IS 'Changes an incident may follow: a Project running a new image, a Provider changing health.';
COMMENT ON COLUMN javari_change_log.id IS 'Primary key.';
COMMENT ON COLUMN javari_change_log.kind IS 'project_rollout or provider_health.';
COMMENT ON COLUMN javari_change_log.namespace IS 'Namespace of the Project or Provider.';
COMMENT ON COLUMN javari_change_log.name IS 'Name of the Project or Provider.';
COMMENT ON COLUMN javari_change_log.message IS 'What changed (the image, or the health from and to).';
COMMENT ON COLUMN javari_change_log.created_at IS 'When the change was recorded.';

COMMENT ON TABLE javari_health_check_hourly IS 'Health checks of one Monitor rolled up per hour (kept 90 days).';
COMMENT ON COLUMN javari_health_check_hourly.monitor_namespace IS 'Namespace of the Monitor.';
COMMENT ON COLUMN javari_health_check_hourly.monitor_name IS 'Name of the Monitor.';
COMMENT ON COLUMN javari_health_check_hourly.hour IS 'Start of the hour (UTC).';
COMMENT ON COLUMN javari_health_check_hourly.checks IS 'Checks in the hour.';
COMMENT ON COLUMN javari_health_check_hourly.up IS 'Checks that passed.';
COMMENT ON COLUMN javari_health_check_hourly.response_count IS 'Checks with a response time.';
COMMENT ON COLUMN javari_health_check_hourly.response_sum_ms IS 'Sum of the response times, in milliseconds.';
COMMENT ON COLUMN javari_health_check_hourly.histogram IS 'Response times per fixed bucket (javari_core::history::BUCKETS_MS), for percentiles.';

COMMENT ON TABLE javari_health_check_daily IS 'Health checks of one Monitor rolled up per day (kept two years).';
COMMENT ON COLUMN javari_health_check_daily.monitor_namespace IS 'Namespace of the Monitor.';
COMMENT ON COLUMN javari_health_check_daily.monitor_name IS 'Name of the Monitor.';
COMMENT ON COLUMN javari_health_check_daily.day IS 'The day (UTC).';
COMMENT ON COLUMN javari_health_check_daily.checks IS 'Checks in the day.';
COMMENT ON COLUMN javari_health_check_daily.up IS 'Checks that passed.';
COMMENT ON COLUMN javari_health_check_daily.response_count IS 'Checks with a response time.';
COMMENT ON COLUMN javari_health_check_daily.response_sum_ms IS 'Sum of the response times, in milliseconds.';
COMMENT ON COLUMN javari_health_check_daily.histogram IS 'Response times per fixed bucket (javari_core::history::BUCKETS_MS), for percentiles.';

COMMENT ON TABLE javari_health_rollup_state IS 'How far the rollup job has gone (one row), so each hour and day is rolled up once.';
COMMENT ON COLUMN javari_health_rollup_state.id IS 'Always 1: the single row.';
COMMENT ON COLUMN javari_health_rollup_state.hourly_until IS 'Hours before this are in javari_health_check_hourly.';
COMMENT ON COLUMN javari_health_rollup_state.daily_until IS 'Days before this are in javari_health_check_daily.';
COMMENT ON COLUMN javari_health_rollup_state.updated_at IS 'When the rollup job last moved the watermarks.';
