-- Users, console sessions, API keys and per-user preferences.
-- There is no external auth schema: javari_users is the identity table.

CREATE TABLE javari_users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email           text NOT NULL CHECK (email <> ''),
    display_name    text,
    -- argon2 PHC string; NULL for accounts that only authenticate with API keys.
    password_hash   text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2%'),
    role            text NOT NULL DEFAULT 'viewer' CHECK (role IN ('viewer', 'operator', 'admin')),
    disabled        boolean NOT NULL DEFAULT false,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

-- Case-insensitive uniqueness; look users up with `lower(email) = lower($1)`.
CREATE UNIQUE INDEX idx_javari_users_email_lower ON javari_users (lower(email));

CREATE TRIGGER javari_users_set_updated_at
    BEFORE UPDATE ON javari_users
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    -- Only hashes are stored (hex SHA-256 of the cookie token / CSRF token).
    token_hash      text NOT NULL UNIQUE,
    csrf_token_hash text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    ip              inet,
    user_agent      text,
    CHECK (expires_at > created_at)
);

CREATE INDEX idx_javari_sessions_user_id ON javari_sessions (user_id);
CREATE INDEX idx_javari_sessions_expires_at ON javari_sessions (expires_at);


CREATE TABLE javari_api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> ''),
    -- First characters of the key, shown in the console to tell keys apart.
    key_prefix   text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    role         text NOT NULL DEFAULT 'viewer' CHECK (role IN ('viewer', 'operator', 'admin')),
    scopes       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX idx_javari_api_keys_user_id ON javari_api_keys (user_id);


CREATE TABLE javari_user_preferences (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL UNIQUE REFERENCES javari_users (id) ON DELETE CASCADE,
    preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER javari_user_preferences_set_updated_at
    BEFORE UPDATE ON javari_user_preferences
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


-- Row-level security. The tables' owner (the role that runs migrations, normally the
-- application's own role) bypasses these policies; they bind any other role, and
-- `(SELECT javari_current_user_id())` is evaluated once per statement, not per row.
ALTER TABLE javari_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_user_preferences ENABLE ROW LEVEL SECURITY;

-- Users may list and end their own sessions and keys, but not mint or alter them
-- (that would let a session pick its own role or expiry).
CREATE POLICY javari_sessions_owner_select ON javari_sessions
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_sessions_owner_delete ON javari_sessions
    FOR DELETE USING (user_id = (SELECT javari_current_user_id()));

CREATE POLICY javari_api_keys_owner_select ON javari_api_keys
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_api_keys_owner_delete ON javari_api_keys
    FOR DELETE USING (user_id = (SELECT javari_current_user_id()));

CREATE POLICY javari_user_preferences_owner ON javari_user_preferences
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
