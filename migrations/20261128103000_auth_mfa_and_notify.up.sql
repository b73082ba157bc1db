-- A second factor (TOTP) with recovery codes, pending second-factor sign-ins, and
-- notifications that keep every console replica's in-memory sessions and tokens current.

-- The TOTP secret sealed with AES-256-GCM under the master key (associated data
-- `javari.ai/totp/v1:<user id>`); never stored or shown in clear after enrolment.
CREATE TABLE javari_user_totp (
    user_id           uuid PRIMARY KEY REFERENCES javari_users (id) ON DELETE CASCADE,
    secret_ciphertext bytea NOT NULL,
    secret_nonce      bytea NOT NULL CHECK (length(secret_nonce) = 12),
    key_id            text NOT NULL,
    -- NULL while enrolment waits for the first code.
    enabled_at        timestamptz,
    -- The last accepted time step: a code works once.
    last_step         bigint,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- One-time recovery codes, stored as SHA-256 only.
CREATE TABLE javari_user_recovery_codes (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, code_hash)
);

CREATE INDEX idx_javari_user_recovery_codes_user_id ON javari_user_recovery_codes (user_id);

-- A password that was right, waiting for the second factor (a cookie holds the token).
CREATE TABLE javari_sign_in_challenges (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    attempts   integer NOT NULL DEFAULT 0,
    next_path  text NOT NULL DEFAULT '/chat',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX idx_javari_sign_in_challenges_expires_at ON javari_sign_in_challenges (expires_at);
CREATE INDEX idx_javari_api_keys_expires_at ON javari_api_keys (expires_at);

ALTER TABLE javari_user_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_user_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_sign_in_challenges ENABLE ROW LEVEL SECURITY;
CREATE POLICY javari_user_totp_owner_select ON javari_user_totp
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_user_recovery_codes_owner_select ON javari_user_recovery_codes
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));

-- `javari_auth` notifications: `<table>:<op>:<id>` (the id of a session, API key or user;
-- for javari_user_totp the user's id). Listeners re-read the row; nothing secret is sent.
CREATE FUNCTION javari_notify_auth() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    row_id uuid;
BEGIN
    -- Separate statements: a record's missing field fails when its statement is prepared.
    IF TG_TABLE_NAME = 'javari_user_totp' THEN
        IF TG_OP = 'DELETE' THEN row_id := OLD.user_id; ELSE row_id := NEW.user_id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN row_id := OLD.id; ELSE row_id := NEW.id; END IF;
    END IF;
    PERFORM pg_notify('javari_auth', TG_TABLE_NAME || ':' || TG_OP || ':' || row_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER javari_sessions_notify_auth
    AFTER INSERT OR UPDATE OR DELETE ON javari_sessions
    FOR EACH ROW EXECUTE FUNCTION javari_notify_auth();
CREATE TRIGGER javari_api_keys_notify_auth
    AFTER INSERT OR UPDATE OF revoked_at, expires_at, role OR DELETE ON javari_api_keys
    FOR EACH ROW EXECUTE FUNCTION javari_notify_auth();
CREATE TRIGGER javari_users_notify_auth
    AFTER UPDATE OF email, role, disabled OR DELETE ON javari_users
    FOR EACH ROW EXECUTE FUNCTION javari_notify_auth();
CREATE TRIGGER javari_user_totp_notify_auth
    AFTER INSERT OR UPDATE OF enabled_at OR DELETE ON javari_user_totp
    FOR EACH ROW EXECUTE FUNCTION javari_notify_auth();
