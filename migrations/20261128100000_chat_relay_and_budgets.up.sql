-- Answers followable from any console replica, atomic budgets, and the notifications that
-- keep each replica's in-memory copies (providers, budgets) current.

-- An answer being streamed: who may follow it, and when it ended.
CREATE TABLE javari_chat_streams (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX idx_javari_chat_streams_finished_at ON javari_chat_streams (finished_at);

-- Its events in order (the JSON each EventSource receives), for replay on any replica.
CREATE TABLE javari_chat_stream_events (
    stream_id  uuid NOT NULL REFERENCES javari_chat_streams (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq >= 0),
    event      text NOT NULL,
    PRIMARY KEY (stream_id, seq)
);

-- Money held by answers in flight; deleted when the answer is stored (settled) or failed.
CREATE TABLE javari_budget_reservations (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    billing_period text NOT NULL,
    amount_usd     numeric(12, 6) NOT NULL CHECK (amount_usd >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX idx_javari_budget_reservations_user_id_billing_period
    ON javari_budget_reservations (user_id, billing_period);

ALTER TABLE javari_chat_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_chat_stream_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_budget_reservations ENABLE ROW LEVEL SECURITY;

CREATE POLICY javari_chat_streams_owner ON javari_chat_streams
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_chat_stream_events_owner ON javari_chat_stream_events
    FOR ALL
    USING (EXISTS (
        SELECT 1 FROM javari_chat_streams s
        WHERE s.id = stream_id AND s.user_id = (SELECT javari_current_user_id())
    ))
    WITH CHECK (EXISTS (
        SELECT 1 FROM javari_chat_streams s
        WHERE s.id = stream_id AND s.user_id = (SELECT javari_current_user_id())
    ));
CREATE POLICY javari_budget_reservations_owner ON javari_budget_reservations
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

-- Any change to the providers or their models tells every console to reload its copy.
CREATE FUNCTION javari_notify_providers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('javari_providers', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER javari_providers_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON javari_providers
    FOR EACH STATEMENT EXECUTE FUNCTION javari_notify_providers();
CREATE TRIGGER javari_provider_models_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON javari_provider_models
    FOR EACH STATEMENT EXECUTE FUNCTION javari_notify_providers();

-- A changed budget preference tells every console to forget that user's budget state.
CREATE FUNCTION javari_notify_budget_preference() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('javari_budgets', OLD.user_id::text);
    ELSE
        PERFORM pg_notify('javari_budgets', NEW.user_id::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER javari_user_preferences_notify_budget
    AFTER INSERT OR UPDATE OR DELETE ON javari_user_preferences
    FOR EACH ROW EXECUTE FUNCTION javari_notify_budget_preference();
