DROP TABLE IF EXISTS javari_provider_performance;
DROP TABLE IF EXISTS javari_provider_models;
DROP TABLE IF EXISTS javari_providers;
DROP TABLE IF EXISTS javari_project_members;
DROP TABLE IF EXISTS javari_projects;
