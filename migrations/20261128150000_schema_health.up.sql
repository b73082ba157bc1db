-- Schema health: scans of a database's schema, the findings of each scan, and suppressions.

CREATE TABLE javari_schema_scans (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    target         text NOT NULL DEFAULT 'platform',
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    error          text,
    tables_scanned integer NOT NULL DEFAULT 0,
    duration_ms    integer,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_javari_schema_scans_target_started_at ON javari_schema_scans (target, started_at DESC);

CREATE TABLE javari_schema_scan_findings (
    id          bigserial PRIMARY KEY,
    scan_id     uuid NOT NULL REFERENCES javari_schema_scans (id) ON DELETE CASCADE,
    key         text NOT NULL,
    check_name  text NOT NULL,
    level       text NOT NULL CHECK (level IN ('error', 'warn', 'info')),
    category    text NOT NULL CHECK (category IN ('security', 'performance', 'maintainability')),
    object      text NOT NULL,
    description text NOT NULL,
    remediation text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scan_id, key)
);

CREATE TABLE javari_schema_suppressions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    target      text NOT NULL DEFAULT 'platform',
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 1000),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    owner       text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    expires_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (target, key)
);
CREATE INDEX idx_javari_schema_suppressions_expires_at ON javari_schema_suppressions (expires_at);

COMMENT ON TABLE javari_schema_scans IS 'One schema health scan of a database (target): when it ran, how, and whether it finished.';
COMMENT ON COLUMN javari_schema_scans.id IS 'Primary key, auto-generated.';
COMMENT ON COLUMN javari_schema_scans.target IS 'Which database was scanned: platform is the console''s own database.';
COMMENT ON COLUMN javari_schema_scans.trigger IS 'What started the scan: schedule or manual (the findings page).';
COMMENT ON COLUMN javari_schema_scans.started_at IS 'Process start time (UTC).';
COMMENT ON COLUMN javari_schema_scans.finished_at IS 'Process end time (UTC); null while running.';
COMMENT ON COLUMN javari_schema_scans.status IS 'Current state: running, completed or failed.';
COMMENT ON COLUMN javari_schema_scans.error IS 'Why a failed scan failed.';
COMMENT ON COLUMN javari_schema_scans.tables_scanned IS 'Number of tables introspected.';
COMMENT ON COLUMN javari_schema_scans.duration_ms IS 'Duration in milliseconds.';
COMMENT ON COLUMN javari_schema_scans.created_at IS 'Record creation time (UTC).';

COMMENT ON TABLE javari_schema_scan_findings IS 'The findings of one scan: each check''s problem of one object, with its level, category and remediation.';
COMMENT ON COLUMN javari_schema_scan_findings.id IS 'Primary key, auto-generated.';
COMMENT ON COLUMN javari_schema_scan_findings.scan_id IS 'FK to javari_schema_scans: the scan that found it.';
COMMENT ON COLUMN javari_schema_scan_findings.key IS 'Stable key check:object, the same in every scan; suppressions and "new since the last scan" use it.';
COMMENT ON COLUMN javari_schema_scan_findings.check_name IS 'The check that reported it (unindexed_foreign_key, no_primary_key, ...).';
COMMENT ON COLUMN javari_schema_scan_findings.level IS 'error, warn or info.';
COMMENT ON COLUMN javari_schema_scan_findings.category IS 'security, performance or maintainability.';
COMMENT ON COLUMN javari_schema_scan_findings.object IS 'The object named: schema.table, schema.table.column, an index or a function.';
COMMENT ON COLUMN javari_schema_scan_findings.description IS 'What is wrong and why it matters.';
COMMENT ON COLUMN javari_schema_scan_findings.remediation IS 'What to do about it, usually the SQL.';
COMMENT ON COLUMN javari_schema_scan_findings.created_at IS 'Record creation time (UTC).';

COMMENT ON TABLE javari_schema_suppressions IS 'Findings hidden on purpose, each with a reason, an owner and an expiry after which it shows again.';
COMMENT ON COLUMN javari_schema_suppressions.id IS 'Primary key, auto-generated.';
COMMENT ON COLUMN javari_schema_suppressions.target IS 'The database whose finding is suppressed.';
COMMENT ON COLUMN javari_schema_suppressions.key IS 'The finding''s stable key (check:object).';
COMMENT ON COLUMN javari_schema_suppressions.reason IS 'Why the finding is accepted for now.';
COMMENT ON COLUMN javari_schema_suppressions.owner IS 'Who answers for it.';
COMMENT ON COLUMN javari_schema_suppressions.expires_at IS 'Expiration timestamp: the finding shows again from then.';
COMMENT ON COLUMN javari_schema_suppressions.created_by IS 'User who created.';
COMMENT ON COLUMN javari_schema_suppressions.created_at IS 'Record creation time (UTC).';
