DROP TABLE javari_schema_connections;
ALTER TABLE javari_schema_scans DROP COLUMN drift_error;
ALTER TABLE javari_schema_scans DROP COLUMN drift_checked;
COMMENT ON COLUMN javari_schema_scans.target IS 'Which database was scanned: platform is the console''s own database.';
COMMENT ON COLUMN javari_schema_suppressions.target IS 'The database whose finding is suppressed.';
