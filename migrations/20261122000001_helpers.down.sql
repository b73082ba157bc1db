DROP FUNCTION IF EXISTS javari_current_user_id();
DROP FUNCTION IF EXISTS javari_set_updated_at();
