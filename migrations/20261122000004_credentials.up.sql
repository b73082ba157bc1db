-- Credential vault: AES-256-GCM ciphertexts (tag appended to encrypted_value), a random
-- 96-bit nonce per version and the id of the master key that sealed it. Plaintext never
-- reaches the database.

CREATE TABLE javari_credentials (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace        text NOT NULL,
    name             text NOT NULL,
    project_id       uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    service_name     text,
    credential_type  text NOT NULL DEFAULT 'generic',
    description      text,
    -- generated / imported / console
    source           text,
    current_version  integer NOT NULL DEFAULT 1 CHECK (current_version >= 1),
    encrypted_value  bytea NOT NULL,
    nonce            bytea NOT NULL CHECK (octet_length(nonce) = 12),
    key_id           text NOT NULL,
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'rotating', 'expired', 'disabled')),
    rotation_days    integer CHECK (rotation_days IS NULL OR rotation_days > 0),
    expires_at       timestamptz,
    last_rotated_at  timestamptz,
    next_rotation_at timestamptz,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text,
    UNIQUE (namespace, name)
);

CREATE INDEX idx_javari_credentials_project_id ON javari_credentials (project_id);
CREATE INDEX idx_javari_credentials_service_name ON javari_credentials (service_name);
CREATE INDEX idx_javari_credentials_next_rotation_at
    ON javari_credentials (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
CREATE INDEX idx_javari_credentials_expires_at
    ON javari_credentials (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_javari_credentials_key_id ON javari_credentials (key_id);

CREATE TRIGGER javari_credentials_set_updated_at
    BEFORE UPDATE ON javari_credentials
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


-- Every sealed version, kept so the previous value stays readable during a rotation's
-- grace period and so a master-key rewrap can reseal history.
CREATE TABLE javari_credential_snapshots (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    credential_id        uuid NOT NULL REFERENCES javari_credentials (id) ON DELETE CASCADE,
    version              integer NOT NULL CHECK (version >= 1),
    encrypted_value      bytea NOT NULL,
    nonce                bytea NOT NULL CHECK (octet_length(nonce) = 12),
    key_id               text NOT NULL,
    grace_period_ends_at timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (credential_id, version)
);

CREATE INDEX idx_javari_credential_snapshots_key_id ON javari_credential_snapshots (key_id);


-- Outlives the credential it describes (credential_id is nulled, the name is kept).
CREATE TABLE javari_credential_audit_log (
    id                   bigserial PRIMARY KEY,
    credential_id        uuid REFERENCES javari_credentials (id) ON DELETE SET NULL,
    credential_namespace text,
    credential_name      text NOT NULL,
    actor                text NOT NULL,
    action               text NOT NULL
                         CHECK (action IN ('create', 'decrypt', 'rotate', 'delete', 'rewrap', 'import', 'update')),
    version              integer,
    reason               text,
    ip                   inet,
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_credential_audit_log_credential_id_created_at
    ON javari_credential_audit_log (credential_id, created_at);
CREATE INDEX idx_javari_credential_audit_log_created_at
    ON javari_credential_audit_log (created_at);
