-- Postmortems drafted from an incident's timeline and edited by people, with action items.
CREATE TABLE javari_postmortems (
    incident_id uuid PRIMARY KEY REFERENCES javari_incidents (id) ON DELETE CASCADE,
    body        text NOT NULL CHECK (length(body) <= 200000),
    updated_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER javari_postmortems_set_updated_at
    BEFORE UPDATE ON javari_postmortems
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();

CREATE TABLE javari_postmortem_action_items (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id uuid NOT NULL REFERENCES javari_incidents (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    owner       text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    due_date    date,
    done        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_postmortem_action_items_incident_id
    ON javari_postmortem_action_items (incident_id);

CREATE TRIGGER javari_postmortem_action_items_set_updated_at
    BEFORE UPDATE ON javari_postmortem_action_items
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();
