DROP TABLE IF EXISTS javari_provider_days;
