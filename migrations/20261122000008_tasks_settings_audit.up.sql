-- Background task queue, key/value settings and the general audit log.

CREATE TABLE javari_task_queue (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_type    text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    -- Higher runs first.
    priority     integer NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_after    timestamptz NOT NULL DEFAULT now(),
    locked_at    timestamptz,
    locked_by    text,
    last_error   text,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

-- Dequeue: WHERE status = 'pending' AND run_after <= now()
--          ORDER BY priority DESC, run_after FOR UPDATE SKIP LOCKED LIMIT n
CREATE INDEX idx_javari_task_queue_priority_run_after
    ON javari_task_queue (priority DESC, run_after) WHERE status = 'pending';
-- Reaping tasks whose worker died.
CREATE INDEX idx_javari_task_queue_locked_at
    ON javari_task_queue (locked_at) WHERE status = 'running';
CREATE INDEX idx_javari_task_queue_status_completed_at
    ON javari_task_queue (status, completed_at);
CREATE INDEX idx_javari_task_queue_task_type ON javari_task_queue (task_type);

CREATE TRIGGER javari_task_queue_set_updated_at
    BEFORE UPDATE ON javari_task_queue
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text
);

CREATE TRIGGER javari_settings_set_updated_at
    BEFORE UPDATE ON javari_settings
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_audit_log (
    id            bigserial PRIMARY KEY,
    actor         text NOT NULL,
    action        text NOT NULL,
    resource_type text,
    resource_id   text,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip            inet,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_audit_log_created_at ON javari_audit_log (created_at);
CREATE INDEX idx_javari_audit_log_actor_created_at ON javari_audit_log (actor, created_at);
CREATE INDEX idx_javari_audit_log_resource_type_resource_id_created_at
    ON javari_audit_log (resource_type, resource_id, created_at);
