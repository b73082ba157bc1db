-- Restores requested from the console. An in-place restore waits for a second admin until its
-- request expires; it can be declined. The previous database is kept under another name.

-- Widening the status CHECK (and the in-place one, which must allow a declined or expired
-- request without an approver) means replacing them; the new ones allow every old value. The
-- table holds one row per restore (small), so validating at once is a short scan.
-- squawk-ignore ban-drop-constraint
ALTER TABLE javari_backup_restores DROP CONSTRAINT javari_backup_restores_status_check;
-- squawk-ignore ban-drop-constraint
ALTER TABLE javari_backup_restores DROP CONSTRAINT javari_backup_restores_in_place_approved_check;

ALTER TABLE javari_backup_restores
    -- squawk-ignore constraint-missing-not-valid
    ADD CONSTRAINT javari_backup_restores_status_check CHECK (status IN (
        'requested', 'approved', 'running', 'completed', 'failed', 'declined', 'expired'
    )),
    -- squawk-ignore constraint-missing-not-valid
    ADD CONSTRAINT javari_backup_restores_in_place_approved_check CHECK (
        mode = 'new' OR status IN ('requested', 'failed', 'declined', 'expired')
        OR approved_by IS NOT NULL
    ),
    ADD COLUMN expires_at        timestamptz,
    ADD COLUMN decided_by        text,
    ADD COLUMN decided_at        timestamptz,
    ADD COLUMN replaced_database text;

COMMENT ON COLUMN javari_backup_restores.expires_at IS 'When an in-place request that no second admin approved can no longer run.';
COMMENT ON COLUMN javari_backup_restores.decided_by IS 'Email of the admin who approved or declined an in-place request.';
COMMENT ON COLUMN javari_backup_restores.decided_at IS 'When an in-place request was approved or declined.';
COMMENT ON COLUMN javari_backup_restores.replaced_database IS 'The name an in-place restore gave the database it replaced (kept, not dropped).';
COMMENT ON COLUMN javari_backup_restores.status IS 'requested, approved, running, completed, failed, declined or expired.';
