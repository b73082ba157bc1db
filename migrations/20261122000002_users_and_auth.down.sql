DROP TABLE IF EXISTS javari_user_preferences;
DROP TABLE IF EXISTS javari_api_keys;
DROP TABLE IF EXISTS javari_sessions;
DROP TABLE IF EXISTS javari_users;
