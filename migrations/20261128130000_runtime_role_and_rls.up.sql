-- Real row-level security.
--
-- Migrations run as the schema's owner. The binaries run their queries as a login role that
-- is a member of `javari_runtime`: not the owner, not a superuser, without BYPASSRLS. Every
-- table holding one user's data has FORCE ROW LEVEL SECURITY and policies on
-- `javari_current_user_id()` (the `javari.user_id` each user-scoped transaction sets), so a
-- query without a WHERE still sees only the caller's rows, and with no user set none.
--
-- What runs before the user is known (a session cookie or API token to its user, a pending
-- second-factor sign-in) and what runs for no one (pruning, the crawl schedule, the relay's
-- cleanup, incident reviews) goes through the narrow SECURITY DEFINER functions below, owned
-- by the schema's owner, with a fixed search_path. Admin pages that see every user's API
-- tokens and web sources set `javari.role` to 'admin' (the console does so only after
-- checking the caller is an admin); only the policies named `*_admin` read it.

-- The functions below resolve names in this schema only (pg_catalog, implicitly first, then
-- this schema, then pg_temp last), and what this migration creates lands in this schema.
SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_temp', true);

-- The group role the runtime login roles are members of. Created here when missing (it is
-- cluster-wide, so it may exist from another database); without CREATEROLE, create it first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'javari_runtime') THEN
        BEGIN
            CREATE ROLE javari_runtime NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION
            -- Created by a concurrent migration of another database.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role javari_runtime does not exist and % may not create it', current_user
                    USING HINT = 'as a superuser or a role with CREATEROLE run: CREATE ROLE javari_runtime NOLOGIN; then start again';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'javari_runtime' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role javari_runtime must be neither superuser nor BYPASSRLS';
    END IF;
END
$$;

-- Privileges on what exists, and on what later migrations (run by this same owner) create.
DO $$
DECLARE
    s text := quote_ident(current_schema());
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %s TO javari_runtime', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO javari_runtime', s);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %s TO javari_runtime', s);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %s TO javari_runtime', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO javari_runtime', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO javari_runtime', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT EXECUTE ON FUNCTIONS TO javari_runtime', s);
    -- The migration history is the owner's alone.
    IF to_regclass('_sqlx_migrations') IS NOT NULL THEN
        REVOKE ALL ON _sqlx_migrations FROM javari_runtime;
    END IF;
END
$$;


-- 'admin' when the console has checked the caller is an admin; NULL otherwise.
CREATE FUNCTION javari_current_role() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('javari.role', true), '')
$$;


-- FORCE on every user-owned table, so even the owner is bound; the owner keeps every row
-- through a policy of its own (the SECURITY DEFINER functions below run as the owner).
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
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY javari_schema_owner ON %I TO %I USING (true) WITH CHECK (true)',
            t, current_user);
    END LOOP;
END
$$;


-- The console signs its users in: it creates, ends and touches their sessions, tokens and
-- second factors as that user.
DROP POLICY javari_sessions_owner_select ON javari_sessions;
DROP POLICY javari_sessions_owner_delete ON javari_sessions;
CREATE POLICY javari_sessions_owner ON javari_sessions
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

DROP POLICY javari_api_keys_owner_select ON javari_api_keys;
DROP POLICY javari_api_keys_owner_delete ON javari_api_keys;
CREATE POLICY javari_api_keys_owner ON javari_api_keys
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
-- The tokens page: an admin lists and revokes everyone's tokens.
CREATE POLICY javari_api_keys_admin_select ON javari_api_keys
    FOR SELECT USING ((SELECT javari_current_role()) = 'admin');
CREATE POLICY javari_api_keys_admin_update ON javari_api_keys
    FOR UPDATE
    USING ((SELECT javari_current_role()) = 'admin')
    WITH CHECK ((SELECT javari_current_role()) = 'admin');

DROP POLICY javari_user_totp_owner_select ON javari_user_totp;
CREATE POLICY javari_user_totp_owner ON javari_user_totp
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

DROP POLICY javari_user_recovery_codes_owner_select ON javari_user_recovery_codes;
CREATE POLICY javari_user_recovery_codes_owner ON javari_user_recovery_codes
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

CREATE POLICY javari_sign_in_challenges_owner ON javari_sign_in_challenges
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

-- An answer's cost is recorded as the user who asked.
CREATE POLICY javari_cost_tracking_owner_insert ON javari_cost_tracking
    FOR INSERT WITH CHECK (user_id = (SELECT javari_current_user_id()));

-- The web sources page: an admin sees, edits and deletes every source and reads its runs.
CREATE POLICY javari_web_crawls_admin ON javari_web_crawls
    FOR ALL
    USING ((SELECT javari_current_role()) = 'admin')
    WITH CHECK ((SELECT javari_current_role()) = 'admin');
CREATE POLICY javari_web_crawl_runs_admin_select ON javari_web_crawl_runs
    FOR SELECT USING ((SELECT javari_current_role()) = 'admin');


-- Before the user is known: a session cookie's hash to its session (never the other way).
CREATE FUNCTION javari_auth_sessions(p_id uuid, p_token_hash text)
RETURNS TABLE (id uuid, token_hash text, user_id uuid, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT s.id, s.token_hash, s.user_id, s.expires_at
    FROM javari_sessions s
    WHERE s.expires_at > now()
      AND (p_id IS NULL OR s.id = p_id)
      AND (p_token_hash IS NULL OR s.token_hash = p_token_hash)
$$;
COMMENT ON FUNCTION javari_auth_sessions(uuid, text) IS
    'Live sessions (all, one id, or one token hash) for the console''s sign-in cache: hashes only.';

-- Before the user is known: an API token's hash to its token.
CREATE FUNCTION javari_auth_api_keys(p_id uuid, p_key_hash text)
RETURNS TABLE (id uuid, key_hash text, user_id uuid, role text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT k.id, k.key_hash, k.user_id, k.role, k.expires_at
    FROM javari_api_keys k
    WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
      AND (p_id IS NULL OR k.id = p_id)
      AND (p_key_hash IS NULL OR k.key_hash = p_key_hash)
$$;
COMMENT ON FUNCTION javari_auth_api_keys(uuid, text) IS
    'Live API tokens (all, one id, or one key hash) for the console''s sign-in cache: hashes only.';

-- Whether a user must give a second factor (the sign-in cache keeps it per user).
CREATE FUNCTION javari_auth_mfa_enabled(p_user_id uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT EXISTS (
        SELECT 1 FROM javari_user_totp t WHERE t.user_id = p_user_id AND t.enabled_at IS NOT NULL
    )
$$;

-- The tokens' last use, written for many users at once by the console's periodic flush.
CREATE FUNCTION javari_auth_touch_api_keys(p_ids uuid[], p_used_at timestamptz[]) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH touched AS (
        UPDATE javari_api_keys k SET last_used_at = u.at
        FROM unnest(p_ids, p_used_at) AS u(id, at)
        WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)
        RETURNING 1
    )
    SELECT count(*) FROM touched
$$;

-- A pending second-factor sign-in, by the hash of its cookie's token.
CREATE FUNCTION javari_auth_sign_in_challenge(p_token_hash text)
RETURNS TABLE (id uuid, user_id uuid, attempts integer, next_path text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT c.id, c.user_id, c.attempts, c.next_path
    FROM javari_sign_in_challenges c
    WHERE c.token_hash = p_token_hash AND c.expires_at > now()
$$;

-- Scheduled pruning: expired sessions and challenges; tokens expired or revoked longer ago
-- than the retention.
CREATE FUNCTION javari_prune_auth(p_token_retention_secs double precision)
RETURNS TABLE (sessions bigint, challenges bigint, tokens bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM javari_sessions WHERE expires_at <= now();
    GET DIAGNOSTICS sessions = ROW_COUNT;
    DELETE FROM javari_sign_in_challenges WHERE expires_at <= now();
    GET DIAGNOSTICS challenges = ROW_COUNT;
    DELETE FROM javari_api_keys
    WHERE expires_at <= now() - make_interval(secs => p_token_retention_secs)
       OR revoked_at <= now() - make_interval(secs => p_token_retention_secs);
    GET DIAGNOSTICS tokens = ROW_COUNT;
    RETURN NEXT;
END
$$;

-- Who may follow an answer streamed by another replica.
CREATE FUNCTION javari_chat_stream_owner(p_id uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT user_id FROM javari_chat_streams WHERE id = p_id
$$;

-- The relay's cleanup of answers finished longer ago than `p_keep_secs`.
CREATE FUNCTION javari_prune_chat_streams(p_keep_secs double precision) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH gone AS (
        DELETE FROM javari_chat_streams
        WHERE finished_at < now() - make_interval(secs => p_keep_secs)
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

-- The crawl schedule: active sources whose next crawl is due, earliest first. Each crawl
-- then runs as its source's owner.
CREATE FUNCTION javari_due_web_crawls(p_limit bigint) RETURNS SETOF javari_web_crawls
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT * FROM javari_web_crawls
    WHERE is_active AND next_crawl_at <= now()
    ORDER BY next_crawl_at LIMIT p_limit
$$;

-- Incident reviews: what AI calls cost the platform in a window (a total, no user's rows).
CREATE FUNCTION javari_platform_cost_usd(p_from timestamptz, p_to timestamptz)
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT coalesce(sum(cost_usd), 0)::float8 FROM javari_cost_tracking
    WHERE created_at BETWEEN p_from AND p_to
$$;

-- On-call runbooks read the platform's spending (billing metadata, never a message): a view
-- that runs with its owner's rights, so it sees every user's cost rows.
CREATE VIEW javari_platform_costs WITH (security_barrier) AS
    SELECT id, user_id, conversation_id, provider, model, input_tokens, output_tokens,
           cost_usd, task_type, billing_period, created_at
    FROM javari_cost_tracking;
COMMENT ON VIEW javari_platform_costs IS
    'Every user''s AI cost rows for operations (runbooks, reviews); read-only for javari_runtime.';
REVOKE ALL ON javari_platform_costs FROM javari_runtime;
GRANT SELECT ON javari_platform_costs TO javari_runtime;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'javari_auth_sessions(uuid, text)', 'javari_auth_api_keys(uuid, text)',
        'javari_auth_mfa_enabled(uuid)', 'javari_auth_touch_api_keys(uuid[], timestamptz[])',
        'javari_auth_sign_in_challenge(text)', 'javari_prune_auth(double precision)',
        'javari_chat_stream_owner(uuid)', 'javari_prune_chat_streams(double precision)',
        'javari_due_web_crawls(bigint)', 'javari_platform_cost_usd(timestamptz, timestamptz)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO javari_runtime', f);
    END LOOP;
END
$$;
