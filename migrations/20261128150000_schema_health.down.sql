DROP TABLE IF EXISTS javari_schema_suppressions;
DROP TABLE IF EXISTS javari_schema_scan_findings;
DROP TABLE IF EXISTS javari_schema_scans;
