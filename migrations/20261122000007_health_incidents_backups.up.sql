-- Monitor results, incidents with their timelines, self-healing and build records, backups.

CREATE TABLE javari_health_checks (
    id                bigserial PRIMARY KEY,
    -- The Monitor resource that ran the check; NULL for built-in checks (/api/health).
    monitor_namespace text,
    monitor_name      text,
    project_id        uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    check_type        text NOT NULL DEFAULT 'http',
    target            text,
    status            text NOT NULL,
    response_time_ms  integer CHECK (response_time_ms IS NULL OR response_time_ms >= 0),
    status_code       integer,
    error             text,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    checked_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_health_checks_monitor_checked_at
    ON javari_health_checks (monitor_namespace, monitor_name, checked_at DESC);
CREATE INDEX idx_javari_health_checks_project_id_checked_at
    ON javari_health_checks (project_id, checked_at DESC);
CREATE INDEX idx_javari_health_checks_checked_at ON javari_health_checks (checked_at);


CREATE TABLE javari_incidents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dedup_key        text NOT NULL,
    title            text NOT NULL,
    description      text,
    severity         text NOT NULL CHECK (severity IN ('P0', 'P1', 'P2', 'P3')),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    -- What raised it: kind ('monitor', 'project', 'provider', ...) and resource name.
    source_kind      text,
    source_namespace text,
    source_name      text,
    project_id       uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    runbook          text,
    occurrences      integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    resolution       text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- At most one unresolved incident per dedup key; a repeat failure updates it instead.
CREATE UNIQUE INDEX idx_javari_incidents_dedup_key
    ON javari_incidents (dedup_key) WHERE status <> 'resolved';
CREATE INDEX idx_javari_incidents_status_severity ON javari_incidents (status, severity);
CREATE INDEX idx_javari_incidents_opened_at ON javari_incidents (opened_at DESC);
CREATE INDEX idx_javari_incidents_source_kind_source_namespace_source_name
    ON javari_incidents (source_kind, source_namespace, source_name);
CREATE INDEX idx_javari_incidents_project_id ON javari_incidents (project_id);

CREATE TRIGGER javari_incidents_set_updated_at
    BEFORE UPDATE ON javari_incidents
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_incident_events (
    id          bigserial PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES javari_incidents (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    message     text NOT NULL,
    actor       text,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_incident_events_incident_id_created_at
    ON javari_incident_events (incident_id, created_at);


CREATE TABLE javari_auto_healing_incidents (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    incident_id       uuid REFERENCES javari_incidents (id) ON DELETE SET NULL,
    error_hash        text,
    error_type        text,
    original_error    text,
    healing_strategy  text,
    code_before       text,
    code_after        text,
    success           boolean,
    rollback_required boolean NOT NULL DEFAULT false,
    learning_captured boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz
);

CREATE INDEX idx_javari_auto_healing_incidents_project_id_created_at
    ON javari_auto_healing_incidents (project_id, created_at DESC);
CREATE INDEX idx_javari_auto_healing_incidents_incident_id ON javari_auto_healing_incidents (incident_id);
CREATE INDEX idx_javari_auto_healing_incidents_error_hash ON javari_auto_healing_incidents (error_hash);


CREATE TABLE javari_build_health_tracking (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id          uuid REFERENCES javari_projects (id) ON DELETE CASCADE,
    deployment_id       text,
    commit_sha          text,
    build_status        text NOT NULL,
    error_type          text,
    error_message       text,
    error_file          text,
    error_line          integer,
    attempted_fixes     integer NOT NULL DEFAULT 0 CHECK (attempted_fixes >= 0),
    fix_successful      boolean,
    fix_method          text,
    time_to_fix_seconds integer CHECK (time_to_fix_seconds IS NULL OR time_to_fix_seconds >= 0),
    related_errors      uuid[] NOT NULL DEFAULT '{}',
    root_cause          text,
    prevention          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz
);

CREATE INDEX idx_javari_build_health_tracking_project_id_created_at
    ON javari_build_health_tracking (project_id, created_at DESC);
CREATE INDEX idx_javari_build_health_tracking_commit_sha ON javari_build_health_tracking (commit_sha);


CREATE TABLE javari_backups (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            text NOT NULL,
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed', 'verified')),
    file_path       text,
    size_bytes      bigint CHECK (size_bytes IS NULL OR size_bytes >= 0),
    sha256          text CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
    compression     text,
    -- Retention tier (daily / weekly / monthly) that keeps this backup.
    retention_class text,
    expires_at      timestamptz,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    verified_at     timestamptz,
    error           text,
    created_by      text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_backups_kind_started_at ON javari_backups (kind, started_at DESC);
CREATE INDEX idx_javari_backups_status ON javari_backups (status);
CREATE INDEX idx_javari_backups_expires_at ON javari_backups (expires_at) WHERE expires_at IS NOT NULL;

CREATE TRIGGER javari_backups_set_updated_at
    BEFORE UPDATE ON javari_backups
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();
