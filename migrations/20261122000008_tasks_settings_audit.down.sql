DROP TABLE IF EXISTS javari_audit_log;
DROP TABLE IF EXISTS javari_settings;
DROP TABLE IF EXISTS javari_task_queue;
