DROP TABLE IF EXISTS javari_backups;
DROP TABLE IF EXISTS javari_build_health_tracking;
DROP TABLE IF EXISTS javari_auto_healing_incidents;
DROP TABLE IF EXISTS javari_incident_events;
DROP TABLE IF EXISTS javari_incidents;
DROP TABLE IF EXISTS javari_health_checks;
