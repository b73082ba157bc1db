DROP TABLE IF EXISTS javari_credential_audit_log;
DROP TABLE IF EXISTS javari_credential_snapshots;
DROP TABLE IF EXISTS javari_credentials;
