-- Projects and AI providers, mirrored from the Project and Provider custom resources
-- (identified by Kubernetes namespace + name).

CREATE TABLE javari_projects (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace                text NOT NULL,
    name                     text NOT NULL,
    display_name             text,
    description              text,
    parent_id                uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    owner_id                 uuid REFERENCES javari_users (id) ON DELETE SET NULL,
    github_owner             text,
    github_repo              text,
    github_branch            text,
    image                    text,
    deployed_image           text,
    deployed_commit          text,
    last_known_good_revision text,
    last_deployed_at         timestamptz,
    health                   text,
    status                   text NOT NULL DEFAULT 'active',
    settings                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name),
    CHECK (parent_id IS DISTINCT FROM id)
);

CREATE INDEX idx_javari_projects_parent_id ON javari_projects (parent_id);
CREATE INDEX idx_javari_projects_owner_id ON javari_projects (owner_id);

CREATE TRIGGER javari_projects_set_updated_at
    BEFORE UPDATE ON javari_projects
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_project_members (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL REFERENCES javari_projects (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    role        text NOT NULL DEFAULT 'viewer' CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, user_id)
);

CREATE INDEX idx_javari_project_members_user_id ON javari_project_members (user_id);

CREATE TRIGGER javari_project_members_set_updated_at
    BEFORE UPDATE ON javari_project_members
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();

ALTER TABLE javari_project_members ENABLE ROW LEVEL SECURITY;

-- Membership is granted by admins through the owning role; a user may only see their own.
CREATE POLICY javari_project_members_owner_select ON javari_project_members
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));


CREATE TABLE javari_providers (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace            text NOT NULL,
    name                 text NOT NULL,
    display_name         text,
    provider_type        text NOT NULL,
    endpoint             text,
    -- Name of the Credential resource (same namespace) holding the API key.
    credential_name      text,
    priority             integer NOT NULL DEFAULT 100,
    enabled              boolean NOT NULL DEFAULT true,
    rate_limit_rpm       integer CHECK (rate_limit_rpm IS NULL OR rate_limit_rpm > 0),
    health               text,
    latency_ms           integer CHECK (latency_ms IS NULL OR latency_ms >= 0),
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_probe_at        timestamptz,
    last_error           text,
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

CREATE INDEX idx_javari_providers_enabled_priority ON javari_providers (enabled, priority);

CREATE TRIGGER javari_providers_set_updated_at
    BEFORE UPDATE ON javari_providers
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_provider_models (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id         uuid NOT NULL REFERENCES javari_providers (id) ON DELETE CASCADE,
    model               text NOT NULL,
    input_cost_per_1k   numeric(12, 6) NOT NULL DEFAULT 0 CHECK (input_cost_per_1k >= 0),
    output_cost_per_1k  numeric(12, 6) NOT NULL DEFAULT 0 CHECK (output_cost_per_1k >= 0),
    capabilities        text[] NOT NULL DEFAULT '{}',
    context_window      integer CHECK (context_window IS NULL OR context_window > 0),
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, model)
);

CREATE TRIGGER javari_provider_models_set_updated_at
    BEFORE UPDATE ON javari_provider_models
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


-- One row per routed request or probe; routing reads recent aggregates from it.
CREATE TABLE javari_provider_performance (
    id            bigserial PRIMARY KEY,
    provider_id   uuid NOT NULL REFERENCES javari_providers (id) ON DELETE CASCADE,
    model         text,
    task_type     text,
    success       boolean NOT NULL,
    latency_ms    integer CHECK (latency_ms IS NULL OR latency_ms >= 0),
    input_tokens  integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_provider_performance_provider_id_created_at
    ON javari_provider_performance (provider_id, created_at DESC);
CREATE INDEX idx_javari_provider_performance_created_at
    ON javari_provider_performance (created_at);
