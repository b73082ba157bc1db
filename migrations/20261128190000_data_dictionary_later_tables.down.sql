-- Removes the comments added by the up migration.

COMMENT ON TABLE javari_backup_restores IS NULL;
COMMENT ON COLUMN javari_backup_restores.id IS NULL;
COMMENT ON COLUMN javari_backup_restores.backup_id IS NULL;
COMMENT ON COLUMN javari_backup_restores.mode IS NULL;
COMMENT ON COLUMN javari_backup_restores.status IS NULL;
COMMENT ON COLUMN javari_backup_restores.target_database IS NULL;
COMMENT ON COLUMN javari_backup_restores.requested_by IS NULL;
COMMENT ON COLUMN javari_backup_restores.approved_by IS NULL;
COMMENT ON COLUMN javari_backup_restores.restore_ms IS NULL;
COMMENT ON COLUMN javari_backup_restores.error IS NULL;
COMMENT ON COLUMN javari_backup_restores.created_at IS NULL;
COMMENT ON COLUMN javari_backup_restores.finished_at IS NULL;

COMMENT ON TABLE javari_backup_verifications IS NULL;
COMMENT ON COLUMN javari_backup_verifications.id IS NULL;
COMMENT ON COLUMN javari_backup_verifications.backup_id IS NULL;
COMMENT ON COLUMN javari_backup_verifications.level IS NULL;
COMMENT ON COLUMN javari_backup_verifications.ok IS NULL;
COMMENT ON COLUMN javari_backup_verifications.detail IS NULL;
COMMENT ON COLUMN javari_backup_verifications.scratch_database IS NULL;
COMMENT ON COLUMN javari_backup_verifications.restore_ms IS NULL;
COMMENT ON COLUMN javari_backup_verifications.bytes_per_second IS NULL;
COMMENT ON COLUMN javari_backup_verifications.started_at IS NULL;
COMMENT ON COLUMN javari_backup_verifications.finished_at IS NULL;

COMMENT ON COLUMN javari_backups.policy IS NULL;
COMMENT ON COLUMN javari_backups.store_url IS NULL;
COMMENT ON COLUMN javari_backups.key_id IS NULL;
COMMENT ON COLUMN javari_backups.sealed_key IS NULL;
COMMENT ON COLUMN javari_backups.key_nonce IS NULL;
COMMENT ON COLUMN javari_backups.snapshot_at IS NULL;
COMMENT ON COLUMN javari_backups.schema_hash IS NULL;
COMMENT ON COLUMN javari_backups.file_count IS NULL;
COMMENT ON COLUMN javari_backups.original_bytes IS NULL;
COMMENT ON COLUMN javari_backups.duration_ms IS NULL;
COMMENT ON COLUMN javari_backups.verification_level IS NULL;
COMMENT ON COLUMN javari_backups.pruned_at IS NULL;

COMMENT ON TABLE javari_change_log IS NULL;
COMMENT ON COLUMN javari_change_log.id IS NULL;
COMMENT ON COLUMN javari_change_log.kind IS NULL;
COMMENT ON COLUMN javari_change_log.namespace IS NULL;
COMMENT ON COLUMN javari_change_log.name IS NULL;
COMMENT ON COLUMN javari_change_log.message IS NULL;
COMMENT ON COLUMN javari_change_log.created_at IS NULL;

COMMENT ON TABLE javari_health_check_hourly IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.monitor_namespace IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.monitor_name IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.hour IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.checks IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.up IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.response_count IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.response_sum_ms IS NULL;
COMMENT ON COLUMN javari_health_check_hourly.histogram IS NULL;

COMMENT ON TABLE javari_health_check_daily IS NULL;
COMMENT ON COLUMN javari_health_check_daily.monitor_namespace IS NULL;
COMMENT ON COLUMN javari_health_check_daily.monitor_name IS NULL;
COMMENT ON COLUMN javari_health_check_daily.day IS NULL;
COMMENT ON COLUMN javari_health_check_daily.checks IS NULL;
COMMENT ON COLUMN javari_health_check_daily.up IS NULL;
COMMENT ON COLUMN javari_health_check_daily.response_count IS NULL;
COMMENT ON COLUMN javari_health_check_daily.response_sum_ms IS NULL;
COMMENT ON COLUMN javari_health_check_daily.histogram IS NULL;

COMMENT ON TABLE javari_health_rollup_state IS NULL;
COMMENT ON COLUMN javari_health_rollup_state.id IS NULL;
COMMENT ON COLUMN javari_health_rollup_state.hourly_until IS NULL;
COMMENT ON COLUMN javari_health_rollup_state.daily_until IS NULL;
COMMENT ON COLUMN javari_health_rollup_state.updated_at IS NULL;
