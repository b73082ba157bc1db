-- Runs of runbooks: where each run stands, and one row per step attempt (input, redacted
-- output, actor, duration). A failed run resumes at its failed step.
CREATE TABLE javari_runbook_runs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    runbook_id   text NOT NULL,
    incident_id  uuid REFERENCES javari_incidents (id) ON DELETE SET NULL,
    namespace    text NOT NULL,
    parameters   jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_by   text NOT NULL,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'awaiting_approval', 'failed', 'succeeded', 'cancelled')),
    -- 1-based number of the step to run next (steps + 1 once done).
    current_step integer NOT NULL DEFAULT 1 CHECK (current_step >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_runbook_runs_incident_id ON javari_runbook_runs (incident_id);
CREATE TRIGGER javari_runbook_runs_set_updated_at
    BEFORE UPDATE ON javari_runbook_runs
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();

CREATE TABLE javari_runbook_step_runs (
    id          bigserial PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES javari_runbook_runs (id) ON DELETE CASCADE,
    step_number integer NOT NULL CHECK (step_number >= 1),
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status      text NOT NULL CHECK (status IN ('succeeded', 'failed', 'approved', 'skipped')),
    actor       text NOT NULL,
    input       jsonb NOT NULL DEFAULT '{}'::jsonb,
    output      text NOT NULL DEFAULT '' CHECK (length(output) <= 20000),
    duration_ms integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_runbook_step_runs_run_id_step_number
    ON javari_runbook_step_runs (run_id, step_number);
