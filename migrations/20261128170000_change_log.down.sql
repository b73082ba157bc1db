DROP TRIGGER javari_providers_log_health ON javari_providers;
DROP FUNCTION javari_log_provider_health();
DROP TRIGGER javari_projects_log_rollout ON javari_projects;
DROP FUNCTION javari_log_project_rollout();
DROP TABLE javari_change_log;
