-- Incidents follow a validated lifecycle (triage → investigating → identified → monitoring →
-- resolved → closed, or declined / merged) with roles and merges.

ALTER TABLE javari_incidents DROP CONSTRAINT javari_incidents_status_check;
DROP INDEX idx_javari_incidents_dedup_key;

UPDATE javari_incidents SET status = 'triage' WHERE status = 'open';
UPDATE javari_incidents SET status = 'investigating' WHERE status = 'acknowledged';

ALTER TABLE javari_incidents
    ALTER COLUMN status SET DEFAULT 'triage',
    ADD CONSTRAINT javari_incidents_status_check CHECK (status IN (
        'triage', 'investigating', 'identified', 'monitoring', 'resolved', 'closed', 'declined', 'merged'
    )),
    ADD COLUMN declared_by       text,
    ADD COLUMN commander         text,
    ADD COLUMN communications    text,
    ADD COLUMN merged_into       uuid REFERENCES javari_incidents (id) ON DELETE SET NULL,
    ADD COLUMN closed_at         timestamptz,
    ADD CONSTRAINT javari_incidents_merged_into_check CHECK ((status = 'merged') = (merged_into IS NOT NULL)),
    ADD CONSTRAINT javari_incidents_times_ordered_check CHECK (
        (acknowledged_at IS NULL OR acknowledged_at >= opened_at)
        AND (resolved_at IS NULL OR resolved_at >= opened_at)
        AND (closed_at IS NULL OR (resolved_at IS NOT NULL AND closed_at >= resolved_at))
    );

-- At most one open incident per dedup key; a repeat failure updates it instead.
CREATE UNIQUE INDEX idx_javari_incidents_dedup_key
    ON javari_incidents (dedup_key)
    WHERE status IN ('triage', 'investigating', 'identified', 'monitoring');
CREATE INDEX idx_javari_incidents_merged_into ON javari_incidents (merged_into);
