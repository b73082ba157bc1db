-- Back to ENABLE-only row-level security and owner access. The cluster-wide role
-- javari_runtime is left in place (other databases may use it); its privileges here go.

DROP VIEW IF EXISTS javari_platform_costs;
DROP FUNCTION IF EXISTS javari_platform_cost_usd(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS javari_due_web_crawls(bigint);
DROP FUNCTION IF EXISTS javari_prune_chat_streams(double precision);
DROP FUNCTION IF EXISTS javari_chat_stream_owner(uuid);
DROP FUNCTION IF EXISTS javari_prune_auth(double precision);
DROP FUNCTION IF EXISTS javari_auth_sign_in_challenge(text);
DROP FUNCTION IF EXISTS javari_auth_touch_api_keys(uuid[], timestamptz[]);
DROP FUNCTION IF EXISTS javari_auth_mfa_enabled(uuid);
DROP FUNCTION IF EXISTS javari_auth_api_keys(uuid, text);
DROP FUNCTION IF EXISTS javari_auth_sessions(uuid, text);

DROP POLICY IF EXISTS javari_web_crawl_runs_admin_select ON javari_web_crawl_runs;
DROP POLICY IF EXISTS javari_web_crawls_admin ON javari_web_crawls;
DROP POLICY IF EXISTS javari_cost_tracking_owner_insert ON javari_cost_tracking;
DROP POLICY IF EXISTS javari_sign_in_challenges_owner ON javari_sign_in_challenges;

DROP POLICY IF EXISTS javari_user_recovery_codes_owner ON javari_user_recovery_codes;
CREATE POLICY javari_user_recovery_codes_owner_select ON javari_user_recovery_codes
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
DROP POLICY IF EXISTS javari_user_totp_owner ON javari_user_totp;
CREATE POLICY javari_user_totp_owner_select ON javari_user_totp
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));

DROP POLICY IF EXISTS javari_api_keys_admin_update ON javari_api_keys;
DROP POLICY IF EXISTS javari_api_keys_admin_select ON javari_api_keys;
DROP POLICY IF EXISTS javari_api_keys_owner ON javari_api_keys;
CREATE POLICY javari_api_keys_owner_select ON javari_api_keys
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_api_keys_owner_delete ON javari_api_keys
    FOR DELETE USING (user_id = (SELECT javari_current_user_id()));

DROP POLICY IF EXISTS javari_sessions_owner ON javari_sessions;
CREATE POLICY javari_sessions_owner_select ON javari_sessions
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_sessions_owner_delete ON javari_sessions
    FOR DELETE USING (user_id = (SELECT javari_current_user_id()));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'javari_sessions', 'javari_api_keys', 'javari_user_preferences',
        'javari_project_members', 'javari_conversations', 'javari_messages',
        'javari_conversation_summaries', 'javari_cost_tracking',
        'javari_knowledge_documents', 'javari_document_chunks',
        'javari_chat_streams', 'javari_chat_stream_events', 'javari_budget_reservations',
        'javari_web_crawls', 'javari_web_crawl_runs', 'javari_web_crawl_pages',
        'javari_user_totp', 'javari_user_recovery_codes', 'javari_sign_in_challenges'
    ] LOOP
        EXECUTE format('DROP POLICY IF EXISTS javari_schema_owner ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

DROP FUNCTION IF EXISTS javari_current_role();

DO $$
DECLARE
    s text := quote_ident(current_schema());
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'javari_runtime') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s REVOKE EXECUTE ON FUNCTIONS FROM javari_runtime', s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s REVOKE ALL ON SEQUENCES FROM javari_runtime', s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s REVOKE ALL ON TABLES FROM javari_runtime', s);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %s FROM javari_runtime', s);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %s FROM javari_runtime', s);
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM javari_runtime', s);
        EXECUTE format('REVOKE USAGE ON SCHEMA %s FROM javari_runtime', s);
    END IF;
END
$$;
