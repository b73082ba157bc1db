DROP TRIGGER IF EXISTS javari_user_preferences_notify_budget ON javari_user_preferences;
DROP FUNCTION IF EXISTS javari_notify_budget_preference();
DROP TRIGGER IF EXISTS javari_provider_models_notify ON javari_provider_models;
DROP TRIGGER IF EXISTS javari_providers_notify ON javari_providers;
DROP FUNCTION IF EXISTS javari_notify_providers();
DROP TABLE IF EXISTS javari_budget_reservations;
DROP TABLE IF EXISTS javari_chat_stream_events;
DROP TABLE IF EXISTS javari_chat_streams;
