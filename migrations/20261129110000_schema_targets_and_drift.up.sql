-- Schema health for more than the platform's database, and drift in every scan.
--
-- Scans record whether the live schema was compared with the migrations (drift), and why
-- not when it could not be. Admins configure connections to other databases; their URL is
-- sealed under the master key (AES-256-GCM, bound to the connection's name) and never shown.

ALTER TABLE javari_schema_scans ADD COLUMN drift_checked boolean NOT NULL DEFAULT false;
ALTER TABLE javari_schema_scans ADD COLUMN drift_error text;

COMMENT ON COLUMN javari_schema_scans.drift_checked IS 'Whether this scan compared the live schema with what the migrations produce (drift findings included).';
COMMENT ON COLUMN javari_schema_scans.drift_error IS 'Why drift was not compared (the role cannot create the scratch database, ...); null when it was or does not apply.';
COMMENT ON COLUMN javari_schema_scans.target IS 'Which database was scanned: platform (the console''s own), backup:NAMESPACE/NAME (a BackupPolicy''s database) or connection:NAME.';
COMMENT ON COLUMN javari_schema_suppressions.target IS 'The database whose finding is suppressed (the same keys as javari_schema_scans.target).';

CREATE TABLE javari_schema_connections (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    url_ciphertext bytea NOT NULL,
    url_nonce      bytea NOT NULL CHECK (length(url_nonce) = 12),
    key_id         text NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE javari_schema_connections IS 'Databases other than the platform''s that admins configured for the schema browser and health scans; the URL is sealed, never shown back.';
COMMENT ON COLUMN javari_schema_connections.id IS 'Primary key, auto-generated.';
COMMENT ON COLUMN javari_schema_connections.name IS 'Name admins pick the connection by (target connection:NAME); lower-case letters, digits and -.';
COMMENT ON COLUMN javari_schema_connections.url_ciphertext IS 'The postgres:// URL, AES-256-GCM ciphertext under the master key, bound to the name.';
COMMENT ON COLUMN javari_schema_connections.url_nonce IS 'The 96-bit AES-GCM nonce of url_ciphertext.';
COMMENT ON COLUMN javari_schema_connections.key_id IS 'Fingerprint of the master key that sealed the URL.';
COMMENT ON COLUMN javari_schema_connections.created_by IS 'Admin who configured (or last replaced) it.';
COMMENT ON COLUMN javari_schema_connections.created_at IS 'Record creation time (UTC).';
COMMENT ON COLUMN javari_schema_connections.updated_at IS 'Last update time (UTC).';
