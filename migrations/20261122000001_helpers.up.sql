-- Shared helpers used by every later migration.

-- One trigger function for all `updated_at` columns.
CREATE FUNCTION javari_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

-- The user on whose behalf the current transaction runs, as set by the application with
-- `SELECT set_config('javari.user_id', $1, true)`. NULL when unset or reset to ''
-- (a reset custom setting reads back as '' rather than NULL), so row-level policies
-- comparing against it match no rows instead of failing.
CREATE FUNCTION javari_current_user_id() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('javari.user_id', true), '')::uuid
$$;
