DROP TRIGGER IF EXISTS javari_user_totp_notify_auth ON javari_user_totp;
DROP TRIGGER IF EXISTS javari_users_notify_auth ON javari_users;
DROP TRIGGER IF EXISTS javari_api_keys_notify_auth ON javari_api_keys;
DROP TRIGGER IF EXISTS javari_sessions_notify_auth ON javari_sessions;
DROP FUNCTION IF EXISTS javari_notify_auth();
DROP INDEX IF EXISTS idx_javari_api_keys_expires_at;
DROP TABLE IF EXISTS javari_sign_in_challenges;
DROP TABLE IF EXISTS javari_user_recovery_codes;
DROP TABLE IF EXISTS javari_user_totp;
