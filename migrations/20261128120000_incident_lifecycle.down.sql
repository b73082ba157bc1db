DROP INDEX idx_javari_incidents_merged_into;
DROP INDEX idx_javari_incidents_dedup_key;
ALTER TABLE javari_incidents
    DROP CONSTRAINT javari_incidents_times_ordered_check,
    DROP CONSTRAINT javari_incidents_merged_into_check,
    DROP CONSTRAINT javari_incidents_status_check,
    DROP COLUMN closed_at,
    DROP COLUMN merged_into,
    DROP COLUMN communications,
    DROP COLUMN commander,
    DROP COLUMN declared_by;
UPDATE javari_incidents SET status = 'open' WHERE status IN ('triage');
UPDATE javari_incidents SET status = 'acknowledged' WHERE status IN ('investigating', 'identified', 'monitoring');
UPDATE javari_incidents SET status = 'resolved' WHERE status IN ('closed', 'declined', 'merged');
ALTER TABLE javari_incidents
    ALTER COLUMN status SET DEFAULT 'open',
    ADD CONSTRAINT javari_incidents_status_check CHECK (status IN ('open', 'acknowledged', 'resolved'));
CREATE UNIQUE INDEX idx_javari_incidents_dedup_key
    ON javari_incidents (dedup_key) WHERE status <> 'resolved';
