ALTER TABLE javari_backup_restores
    DROP CONSTRAINT javari_backup_restores_status_check,
    DROP CONSTRAINT javari_backup_restores_in_place_approved_check,
    DROP COLUMN expires_at,
    DROP COLUMN decided_by,
    DROP COLUMN decided_at,
    DROP COLUMN replaced_database;

UPDATE javari_backup_restores SET status = 'failed' WHERE status IN ('declined', 'expired');

ALTER TABLE javari_backup_restores
    ADD CONSTRAINT javari_backup_restores_status_check CHECK (status IN (
        'requested', 'approved', 'running', 'completed', 'failed'
    )),
    ADD CONSTRAINT javari_backup_restores_in_place_approved_check CHECK (
        mode = 'new' OR status IN ('requested', 'failed') OR approved_by IS NOT NULL
    );

COMMENT ON COLUMN javari_backup_restores.status IS 'requested, approved, running, completed or failed.';
