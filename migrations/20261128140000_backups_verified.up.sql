-- Backups taken by BackupPolicies: encrypted pg_dump directories in an object store, a
-- manifest written last, verification levels (checksums, catalog, drill), restores and
-- console requests. Extends the seed's javari_backups table.

-- Widening the status CHECK means replacing it; the new one allows every old value, so no
-- client loses a guarantee. The table holds one row per backup (small), so the scans of the
-- new constraints below are short; they are validated at once rather than NOT VALID.
-- squawk-ignore ban-drop-constraint
ALTER TABLE javari_backups DROP CONSTRAINT javari_backups_status_check;

ALTER TABLE javari_backups
    -- running: being written (never restorable); completed: manifest written; verified: the
    -- last verification passed; corrupt: a verification failed; pruned: deleted by retention.
    -- squawk-ignore constraint-missing-not-valid
    ADD CONSTRAINT javari_backups_status_check CHECK (status IN (
        'running', 'completed', 'failed', 'verified', 'corrupt', 'pruned'
    )),
    ADD COLUMN policy             text,
    ADD COLUMN store_url          text,
    ADD COLUMN key_id             text,
    ADD COLUMN sealed_key         bytea,
    ADD COLUMN key_nonce          bytea,
    ADD COLUMN original_bytes     bigint CHECK (original_bytes IS NULL OR original_bytes >= 0),
    ADD COLUMN file_count         integer CHECK (file_count IS NULL OR file_count >= 0),
    ADD COLUMN snapshot_at        timestamptz,
    ADD COLUMN duration_ms        bigint CHECK (duration_ms IS NULL OR duration_ms >= 0),
    ADD COLUMN schema_hash        text,
    ADD COLUMN verification_level text NOT NULL DEFAULT 'none'
        CHECK (verification_level IN ('none', 'checksums', 'catalog', 'drill')),
    ADD COLUMN pruned_at          timestamptz,
    -- squawk-ignore constraint-missing-not-valid
    ADD CONSTRAINT javari_backups_complete_has_manifest_check CHECK (
        status NOT IN ('completed', 'verified') OR (sha256 IS NOT NULL AND finished_at IS NOT NULL)
    );

CREATE INDEX idx_javari_backups_policy_started_at ON javari_backups (policy, started_at DESC);

-- Every verification run, each level recorded with its outcome.
CREATE TABLE javari_backup_verifications (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    backup_id         uuid NOT NULL REFERENCES javari_backups (id) ON DELETE CASCADE,
    level             text NOT NULL CHECK (level IN ('checksums', 'catalog', 'drill')),
    ok                boolean NOT NULL,
    detail            text,
    scratch_database  text,
    -- Drill: time to restore into the scratch database (the RTO achieved) and throughput.
    restore_ms        bigint CHECK (restore_ms IS NULL OR restore_ms >= 0),
    bytes_per_second  double precision,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_backup_verifications_backup_id_started_at
    ON javari_backup_verifications (backup_id, started_at DESC);

-- Restores: into a new database, or in place once a second admin approved.
CREATE TABLE javari_backup_restores (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    backup_id        uuid NOT NULL REFERENCES javari_backups (id) ON DELETE CASCADE,
    target_database  text NOT NULL,
    mode             text NOT NULL DEFAULT 'new' CHECK (mode IN ('new', 'in_place')),
    status           text NOT NULL DEFAULT 'requested'
                     CHECK (status IN ('requested', 'approved', 'running', 'completed', 'failed')),
    requested_by     text NOT NULL,
    approved_by      text,
    restore_ms       bigint CHECK (restore_ms IS NULL OR restore_ms >= 0),
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT javari_backup_restores_second_admin_check
        CHECK (approved_by IS NULL OR approved_by <> requested_by),
    CONSTRAINT javari_backup_restores_in_place_approved_check
        CHECK (mode = 'new' OR status IN ('requested', 'failed') OR approved_by IS NOT NULL)
);

CREATE INDEX idx_javari_backup_restores_backup_id ON javari_backup_restores (backup_id);
