-- Changes to the platform's components, kept so an incident can name the last change before
-- it started: every new image a Project runs (rollouts and rollbacks) and every Provider
-- health change. Written by triggers, so every writer of those rows is covered.
CREATE TABLE javari_change_log (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('project_rollout', 'provider_health')),
    namespace  text NOT NULL,
    name       text NOT NULL,
    message    text NOT NULL CHECK (length(message) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_change_log_namespace_created_at
    ON javari_change_log (namespace, created_at);

CREATE FUNCTION javari_log_project_rollout() RETURNS trigger AS $$
BEGIN
    IF NEW.deployed_image IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.deployed_image IS DISTINCT FROM OLD.deployed_image) THEN
        INSERT INTO javari_change_log (kind, namespace, name, message)
        VALUES ('project_rollout', NEW.namespace, NEW.name,
                left('Project ' || NEW.name || ' rolled out ' || NEW.deployed_image
                     || coalesce(' (was ' || CASE WHEN TG_OP = 'UPDATE' THEN OLD.deployed_image END || ')', ''), 2000));
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER javari_projects_log_rollout
    AFTER INSERT OR UPDATE OF deployed_image ON javari_projects
    FOR EACH ROW EXECUTE FUNCTION javari_log_project_rollout();

CREATE FUNCTION javari_log_provider_health() RETURNS trigger AS $$
BEGIN
    IF NEW.health IS NOT NULL AND TG_OP = 'UPDATE' AND NEW.health IS DISTINCT FROM OLD.health THEN
        INSERT INTO javari_change_log (kind, namespace, name, message)
        VALUES ('provider_health', NEW.namespace, NEW.name,
                left('Provider ' || NEW.name || ' went from ' || coalesce(OLD.health, 'unknown')
                     || ' to ' || NEW.health, 2000));
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER javari_providers_log_health
    AFTER UPDATE OF health ON javari_providers
    FOR EACH ROW EXECUTE FUNCTION javari_log_provider_health();
