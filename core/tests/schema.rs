//! Schema introspection, health checks, scans, suppressions, drift and the read-only SQL
//! console on a real PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use javari_core::db::MIGRATOR;
use javari_core::schema::drift::DriftSource;
use javari_core::schema::health::{
    self, Check, Level, NewSuppression, PLATFORM, Thresholds, check_database_with, run_checks,
};
use javari_core::schema::sql_console::{self, ConsoleLimits, Mode, SqlConsoleError};
use javari_core::schema::{Scope, TableRef, drift, introspect, search};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Comments every table and column of `public` that has none, except the tables named.
async fn comment_all_but(pool: &PgPool, except: &[&str]) {
    let list = except
        .iter()
        .map(|t| format!("'{t}'"))
        .chain(["''".to_owned()])
        .collect::<Vec<_>>()
        .join(",");
    exec(
        pool,
        &format!(
            "DO $$ DECLARE r record; BEGIN
               FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT IN ({list}) LOOP
                 EXECUTE format('COMMENT ON TABLE %I IS %L', r.relname, 'The ' || r.relname);
               END LOOP;
               FOR r IN SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT IN ({list}) LOOP
                 EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', r.relname, r.attname, 'The ' || r.attname);
               END LOOP;
             END $$"
        ),
    )
    .await;
}

/// VACUUM (FREEZE) and ANALYZE every table of `public` but `except`.
async fn freeze_all_but(pool: &PgPool, except: &str) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> $1",
    )
    .bind(except)
    .fetch_all(pool)
    .await
    .expect("tables");
    for t in tables {
        exec(pool, &format!("VACUUM (FREEZE, ANALYZE) {t}")).await;
    }
}

/// The schema of the every-problem database, as its own migration: drift compares the live
/// database with what this produces.
const PROBLEMS_DDL: &str = "
CREATE TABLE old_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, email text);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     customer_id bigint NOT NULL REFERENCES customers (id),
                     placed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE import_rows (line text, loaded_at timestamptz);
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id uuid NOT NULL, body text);
CREATE TABLE shared_docs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text);
CREATE POLICY shared_docs_owner ON shared_docs USING (owner = current_user);
CREATE TABLE secrets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, value text);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text, at timestamptz);
CREATE INDEX idx_events_kind ON events (kind);
CREATE INDEX idx_events_kind_copy ON events (kind);
CREATE INDEX idx_events_at ON events (at);
CREATE INDEX idx_events_at_kind ON events (at, kind);
CREATE TABLE readings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sensor text, value float8);
CREATE INDEX idx_readings_sensor ON readings (sensor);
CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text);
CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text);
CREATE TABLE contacts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text);
CREATE FUNCTION add_one(i integer) RETURNS integer LANGUAGE sql AS 'SELECT i + 1';
CREATE TABLE logins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamp);
CREATE TABLE payloads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body json);
CREATE TABLE counters (id serial PRIMARY KEY, n integer);
CREATE TABLE history (id bigint PRIMARY KEY, payload text);
CREATE TABLE undocumented (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, x integer);
";

/// The clean database's schema, as its own migration.
const CLEAN_DDL: &str = "
CREATE TABLE customers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                     customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
                     details jsonb NOT NULL DEFAULT '{}');
CREATE INDEX idx_orders_customer_id ON orders (customer_id);
CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_owner ON notes USING (user_id::text = current_setting('javari.user_id', true));
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, public
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER notes_touch BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION touch();
";

/// A migrator whose one migration is `sql` (kept for the life of the test process, as drift
/// sources are).
async fn migrator_of(name: &str, sql: &str) -> &'static Migrator {
    let dir =
        std::env::temp_dir().join(format!("javari-schema-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("migration dir");
    std::fs::write(dir.join(format!("1_{name}.sql")), sql).expect("migration");
    let migrator = Migrator::new(dir.as_path()).await.expect("migrator");
    Box::leak(Box::new(migrator))
}

/// One instance of every problem the checks know, each table otherwise clean; its schema
/// comes from `migrator`, and one column is then added by hand (drift).
async fn seed_every_problem(pool: &PgPool, migrator: &Migrator) {
    // old_rows is created first and left unfrozen while transaction ids are used up below.
    migrator.run(pool).await.expect("the problems' migration");
    exec(
        pool,
        "CREATE TEMP TABLE burn (i int);
         DO $$ BEGIN FOR i IN 1..20000 LOOP
             BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END;
         END LOOP; END $$;
         DROP TABLE burn;",
    )
    .await;
    exec(
        pool,
        "INSERT INTO readings (sensor, value) SELECT 's' || (i % 50), i FROM generate_series(1, 20000) i;
         INSERT INTO tags (label) VALUES ('a'), ('a');
         SELECT setval('counters_id_seq', 2000000000);
         INSERT INTO history SELECT i, repeat('x', 100) FROM generate_series(1, 30000) i;
         DELETE FROM history WHERE id % 10 <> 0;
         ALTER TABLE customers ADD COLUMN nickname text;",
    )
    .await;
    // A failed CREATE INDEX CONCURRENTLY leaves its index invalid (and made by hand).
    let failed = sqlx::raw_sql("CREATE UNIQUE INDEX CONCURRENTLY idx_tags_label ON tags (label)")
        .execute(pool)
        .await;
    assert!(
        failed.is_err(),
        "the unique index over duplicates must fail"
    );
    comment_all_but(pool, &["undocumented"]).await;
    freeze_all_but(pool, "old_rows").await;
}

fn test_thresholds() -> Thresholds {
    Thresholds {
        xid_warn: 10_000,
        ..Thresholds::default()
    }
}

#[sqlx::test(migrations = false)]
async fn every_problem_is_reported_once_with_its_level_and_object(pool: PgPool) {
    let migrator = migrator_of("problems", PROBLEMS_DDL).await;
    seed_every_problem(&pool, migrator).await;
    let drift = DriftSource::beside(migrator, &pool);
    let result = check_database_with(&pool, &test_thresholds(), Some(&drift))
        .await
        .expect("scan");
    assert!(result.drift_checked, "{:?}", result.drift_error);
    let found: Vec<(Check, Level, String)> = result
        .findings
        .iter()
        .map(|f| (f.check, f.level, f.object.clone()))
        .collect();
    let expected: Vec<(Check, Level, &str)> = vec![
        (
            Check::UnindexedForeignKey,
            Level::Warn,
            "public.orders.orders_customer_id_fkey",
        ),
        (Check::NoPrimaryKey, Level::Warn, "public.import_rows"),
        (Check::UserTableWithoutRls, Level::Error, "public.notes"),
        (
            Check::PolicyWithRlsDisabled,
            Level::Error,
            "public.shared_docs",
        ),
        (Check::RlsWithoutPolicy, Level::Info, "public.secrets"),
        (
            Check::DuplicateIndex,
            Level::Warn,
            "public.idx_events_kind_copy",
        ),
        (Check::RedundantIndex, Level::Info, "public.idx_events_at"),
        (
            Check::UnusedIndex,
            Level::Info,
            "public.idx_readings_sensor",
        ),
        (Check::InvalidIndex, Level::Warn, "public.idx_tags_label"),
        (
            Check::DuplicateTable,
            Level::Warn,
            "public.contacts,public.leads",
        ),
        (
            Check::MutableSearchPath,
            Level::Warn,
            "public.add_one(i integer)",
        ),
        (
            Check::TimestampWithoutTimeZone,
            Level::Warn,
            "public.logins.at",
        ),
        (Check::JsonNotJsonb, Level::Info, "public.payloads.body"),
        (Check::KeyNearExhaustion, Level::Error, "public.counters.id"),
        (Check::TransactionIdAge, Level::Warn, "public.old_rows"),
        (Check::TableBloat, Level::Warn, "public.history"),
        (Check::MissingComment, Level::Info, "public.undocumented"),
        (
            Check::Drift,
            Level::Warn,
            "column public.customers.nickname",
        ),
        // The index a failed CREATE INDEX CONCURRENTLY left behind is also not a migration's.
        (
            Check::Drift,
            Level::Warn,
            "index idx_tags_label on public.tags",
        ),
    ];
    let mut missing = Vec::new();
    for (check, level, object) in &expected {
        let n = found
            .iter()
            .filter(|(c, l, o)| c == check && l == level && o == object)
            .count();
        if n != 1 {
            missing.push(format!("{check} {level} {object}: reported {n} times"));
        }
    }
    let unexpected: Vec<String> = found
        .iter()
        .filter(|(c, l, o)| {
            !expected
                .iter()
                .any(|(ec, el, eo)| ec == c && el == l && eo == o)
        })
        .map(|(c, l, o)| format!("{c} {l} {o}"))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "not as expected: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    // Every check, drift included, is covered.
    let covered: std::collections::BTreeSet<Check> = expected.iter().map(|e| e.0).collect();
    assert_eq!(covered.len(), Check::ALL.len());
    // Each finding names its object in its description and says what to do.
    for f in &result.findings {
        assert!(!f.remediation.trim().is_empty(), "{}", f.key);
        assert_eq!(f.key, format!("{}:{}", f.check, f.object));
    }
}

#[sqlx::test(migrations = false)]
async fn a_clean_database_reports_nothing(pool: PgPool) {
    let migrator = migrator_of("clean", CLEAN_DDL).await;
    migrator.run(&pool).await.expect("the clean migration");
    comment_all_but(&pool, &[]).await;
    let drift = DriftSource::beside(migrator, &pool);
    let result = check_database_with(&pool, &Thresholds::default(), Some(&drift))
        .await
        .expect("scan");
    assert!(result.drift_checked, "{:?}", result.drift_error);
    // customers, orders, notes and sqlx's _sqlx_migrations.
    assert_eq!(result.tables, 4);
    assert!(result.findings.is_empty(), "{:#?}", result.findings);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn javaris_own_schema_has_no_error_level_finding(pool: PgPool) {
    let drift = DriftSource::beside(&MIGRATOR, &pool);
    let result = check_database_with(&pool, &Thresholds::default(), Some(&drift))
        .await
        .expect("scan");
    assert!(result.tables >= 40, "{} tables", result.tables);
    assert!(result.drift_checked, "{:?}", result.drift_error);
    let drifted: Vec<&str> = result
        .findings
        .iter()
        .filter(|f| f.check == Check::Drift)
        .map(|f| f.key.as_str())
        .collect();
    assert!(
        drifted.is_empty(),
        "the migrations' own schema drifts: {drifted:?}"
    );
    let errors: Vec<String> = result
        .findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .map(|f| format!("{}: {}", f.key, f.description))
        .collect();
    assert!(
        errors.is_empty(),
        "error-level findings:\n{}",
        errors.join("\n")
    );
}

/// The data dictionary: every javari_* table and column carries a comment, so a migration
/// adding one without a comment fails here with exactly what is missing.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn every_javari_table_and_column_has_a_comment(pool: PgPool) {
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || CASE WHEN a.attname IS NULL THEN ' (table)' ELSE '.' || a.attname END
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              AND coalesce(col_description(c.oid, a.attnum), '') = ''
         WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'javari\\_%'
           AND (a.attname IS NOT NULL OR coalesce(obj_description(c.oid, 'pg_class'), '') = '')
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("comments");
    // A table without a comment whose columns all have one still needs its own line.
    let tables_missing: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || ' (table)' FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'javari\\_%'
           AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''",
    )
    .fetch_all(&pool)
    .await
    .expect("table comments");
    let mut all: Vec<String> = missing.into_iter().chain(tables_missing).collect();
    all.sort();
    all.dedup();
    assert!(
        all.is_empty(),
        "{} javari_* tables/columns have no COMMENT (add COMMENT ON TABLE/COLUMN in your migration):\n{}",
        all.len(),
        all.join("\n")
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn introspection_finds_keys_both_ways_policies_triggers_and_search(pool: PgPool) {
    let users = TableRef::new("public", "javari_users");
    let catalog = introspect(&pool, &Scope::Tables(vec![users.clone()]))
        .await
        .expect("introspect");
    assert_eq!(catalog.tables.len(), 1);
    let t = &catalog.tables[0];
    assert_eq!(t.module, "javari_users");
    assert!(
        t.comment
            .as_deref()
            .is_some_and(|c| c.contains("Console users"))
    );
    assert_eq!(
        t.primary_key.as_ref().map(|k| k.columns.clone()),
        Some(vec!["id".to_owned()])
    );
    let email = t.column("email").expect("email");
    assert!(!email.nullable);
    assert!(
        t.referenced_by
            .iter()
            .any(|fk| fk.from.name == "javari_sessions"
                && fk.from_columns == ["user_id"]
                && fk.on_delete == "cascade")
    );
    assert!(
        t.indexes
            .iter()
            .any(|i| i.name == "idx_javari_users_email_lower" && i.unique)
    );
    assert!(
        t.triggers
            .iter()
            .any(|tr| tr.function == "javari_set_updated_at")
    );
    let sessions = introspect(
        &pool,
        &Scope::Tables(vec![TableRef::new("public", "javari_sessions")]),
    )
    .await
    .expect("sessions");
    let s = &sessions.tables[0];
    assert!(s.rls_enabled);
    assert!(!s.policies.is_empty());
    assert!(s.foreign_keys.iter().any(|fk| fk.to == users));

    let hits = search::search(&pool, "argon2").await.expect("search");
    assert!(
        hits.iter()
            .any(|h| h.table == "javari_users" && h.column.as_deref() == Some("password_hash")),
        "{hits:?}"
    );
    let hits = search::search(&pool, "javari_web_crawl")
        .await
        .expect("search");
    assert!(
        hits.iter()
            .any(|h| h.table == "javari_web_crawl_runs" && h.column.is_none())
    );
    assert!(search::search(&pool, "%").await.expect("search").is_empty());
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn scans_mark_new_findings_and_suppressions_hide_until_expiry(pool: PgPool) {
    let thresholds = Thresholds::default();
    let first = health::scan(&pool, &pool, PLATFORM, "manual", &thresholds, None)
        .await
        .expect("scan");
    assert_eq!(first.status, "completed");
    let errors_before = health::open_error_count(&pool).await.expect("count");
    assert_eq!(errors_before, 0);

    exec(
        &pool,
        "CREATE TABLE notes (id bigint PRIMARY KEY, user_id uuid NOT NULL)",
    )
    .await;
    health::scan(&pool, &pool, PLATFORM, "schedule", &thresholds, None)
        .await
        .expect("second scan");
    let key = "user_table_without_rls:public.notes";
    let report = health::report(&pool, PLATFORM, Utc::now())
        .await
        .expect("report");
    let shown = report
        .open
        .iter()
        .find(|f| f.finding.key == key)
        .expect("finding");
    assert!(shown.new, "the finding is new since the last scan");
    assert_eq!(
        report.open.iter().filter(|f| f.new).count(),
        2,
        "the table's error and its missing comments"
    );
    assert_eq!(health::open_error_count(&pool).await.expect("count"), 1);

    let now = Utc::now();
    health::suppress(
        &pool,
        &NewSuppression {
            target: PLATFORM,
            key,
            reason: "import table, dropped next week",
            owner: "data-team",
            expires_at: now + chrono::Duration::hours(1),
            created_by: "admin@example.com",
        },
        now,
    )
    .await
    .expect("suppress");
    let report = health::report(&pool, PLATFORM, now).await.expect("report");
    assert!(report.open.iter().all(|f| f.finding.key != key));
    assert!(report.suppressed.iter().any(|f| f.finding.key == key));
    assert_eq!(health::open_error_count(&pool).await.expect("count"), 0);
    // After the expiry it shows again.
    let later = now + chrono::Duration::hours(2);
    let report = health::report(&pool, PLATFORM, later)
        .await
        .expect("report");
    assert!(report.open.iter().any(|f| f.finding.key == key));
    exec(
        &pool,
        "UPDATE javari_schema_suppressions SET expires_at = now() - interval '1 second'",
    )
    .await;
    assert_eq!(health::open_error_count(&pool).await.expect("count"), 1);

    // A third scan with no change: nothing is new.
    health::scan(&pool, &pool, PLATFORM, "manual", &thresholds, None)
        .await
        .expect("third scan");
    let report = health::report(&pool, PLATFORM, Utc::now())
        .await
        .expect("report");
    assert_eq!(report.new_count(), 0);

    // A page that lists only the first finding still counts every open one, errors first.
    let all = report;
    let page = health::report_page(&pool, PLATFORM, Utc::now(), Some(1))
        .await
        .expect("page");
    assert_eq!(page.open.len(), 1);
    assert_eq!(page.counts, all.counts);
    assert_eq!(page.counts.total(), all.open.len());
    assert_eq!(page.unlisted(), all.open.len() - 1);
    assert_eq!(page.open[0].finding.key, all.open[0].finding.key);
    assert_eq!(page.open[0].finding.level, Level::Error);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_column_added_by_hand_is_drift_naming_it(pool: PgPool) {
    let clean = drift::check(&pool, &MIGRATOR).await.expect("drift");
    assert!(clean.is_empty(), "{clean:#?}");
    exec(&pool, "ALTER TABLE javari_users ADD COLUMN nickname text").await;
    let found = drift::check(&pool, &MIGRATOR).await.expect("drift");
    let objects: Vec<&str> = found.iter().map(|f| f.object.as_str()).collect();
    assert_eq!(objects, vec!["column public.javari_users.nickname"]);
    assert_eq!(found[0].check, Check::Drift);
    assert!(found[0].description.contains("added by hand"));
    // The scratch databases are gone.
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'javari\\_drift\\_%'",
    )
    .fetch_one(&pool)
    .await
    .expect("databases");
    assert_eq!(left, 0);
}

/// Scans compare with the migrations: a column added by hand is a drift finding of the
/// scan that follows, new since the scan before, suppressible like any other.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_scan_reports_a_hand_added_column_as_new_drift(pool: PgPool) {
    let drift = DriftSource::beside(&MIGRATOR, &pool);
    let thresholds = Thresholds::default();
    let first = health::scan(
        &pool,
        &pool,
        PLATFORM,
        "schedule",
        &thresholds,
        Some(&drift),
    )
    .await
    .expect("scan");
    assert!(first.drift_checked, "{:?}", first.drift_error);
    assert!(first.drift_note().contains("compared with the migrations"));
    exec(
        &pool,
        "ALTER TABLE javari_users ADD COLUMN nickname text;
         COMMENT ON COLUMN javari_users.nickname IS 'added by hand'",
    )
    .await;
    health::scan(
        &pool,
        &pool,
        PLATFORM,
        "schedule",
        &thresholds,
        Some(&drift),
    )
    .await
    .expect("second scan");
    let report = health::report(&pool, PLATFORM, Utc::now())
        .await
        .expect("report");
    let key = "drift:column public.javari_users.nickname";
    let drifted: Vec<_> = report
        .open
        .iter()
        .filter(|f| f.finding.check == Check::Drift)
        .collect();
    assert_eq!(drifted.len(), 1, "{drifted:#?}");
    let shown = drifted[0];
    assert_eq!(shown.finding.key, key);
    assert_eq!(shown.finding.level, Level::Warn);
    assert_eq!(shown.finding.category, health::Category::Maintainability);
    assert!(shown.finding.remediation.contains("migration"));
    assert!(shown.new, "new since the scan before");
    let now = Utc::now();
    health::suppress(
        &pool,
        &NewSuppression {
            target: PLATFORM,
            key,
            reason: "migration in review",
            owner: "platform-team",
            expires_at: now + chrono::Duration::days(2),
            created_by: "admin@example.com",
        },
        now,
    )
    .await
    .expect("suppress");
    let report = health::report(&pool, PLATFORM, now).await.expect("report");
    assert!(report.open.iter().all(|f| f.finding.key != key));
    assert!(report.suppressed.iter().any(|f| f.finding.key == key));
}

/// Without CREATEDB drift cannot be compared: the scan still completes with the other
/// findings and says why drift is missing.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_scan_without_createdb_says_drift_was_not_compared(pool: PgPool) {
    let runtime = javari_testenv::runtime_pool(&pool)
        .await
        .expect("runtime pool");
    let drift = DriftSource::beside(&MIGRATOR, &runtime);
    let scan = health::scan(
        &pool,
        &runtime,
        PLATFORM,
        "manual",
        &Thresholds::default(),
        Some(&drift),
    )
    .await
    .expect("scan");
    assert_eq!(scan.status, "completed");
    assert!(!scan.drift_checked);
    let error = scan.drift_error.clone().unwrap_or_default();
    assert!(error.contains("CREATEDB"), "{error}");
    assert!(scan.drift_note().starts_with("not compared"));
    assert!(scan.tables_scanned >= 40);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_sql_console_reads_and_refuses_writes_and_slow_statements(pool: PgPool) {
    let limits = ConsoleLimits {
        statement_timeout: Duration::from_millis(300),
        max_rows: 5,
        ..ConsoleLimits::default()
    };
    let r = sql_console::run(
        &pool,
        "SELECT i, 'x' || i AS label, NULL AS nothing FROM generate_series(1, 10) i",
        Mode::Run,
        &limits,
    )
    .await
    .expect("select");
    assert_eq!(r.columns, vec!["i", "label", "nothing"]);
    assert_eq!(r.rows.len(), 5);
    assert!(r.truncated);
    assert_eq!(
        r.rows[0],
        vec![Some("1".to_owned()), Some("x1".to_owned()), None]
    );

    let plan = sql_console::run(
        &pool,
        "SELECT * FROM javari_users WHERE email = 'a'",
        Mode::Explain,
        &limits,
    )
    .await
    .expect("explain");
    assert_eq!(plan.columns, vec!["QUERY PLAN"]);
    assert!(
        plan.rows
            .iter()
            .any(|r| r[0].as_deref().is_some_and(|l| l.contains("javari_users")))
    );

    exec(&pool, "CREATE SEQUENCE console_probe").await;
    let write =
        sql_console::run(&pool, "SELECT nextval('console_probe')", Mode::Run, &limits).await;
    assert!(
        matches!(write, Err(SqlConsoleError::ReadOnly(_))),
        "{write:?}"
    );
    let cte = sql_console::run(
        &pool,
        "WITH gone AS (DELETE FROM javari_users RETURNING id) SELECT * FROM gone",
        Mode::Run,
        &limits,
    )
    .await;
    assert!(cte.is_err(), "{cte:?}");
    let delete = sql_console::run(&pool, "DELETE FROM javari_users", Mode::Run, &limits).await;
    assert!(
        matches!(delete, Err(SqlConsoleError::NotReadOnly(_))),
        "{delete:?}"
    );
    let slow = sql_console::run(&pool, "SELECT pg_sleep(3)", Mode::Run, &limits).await;
    assert!(
        matches!(slow, Err(SqlConsoleError::Timeout(300))),
        "{slow:?}"
    );
    let two = sql_console::run(&pool, "SELECT 1; SELECT 2", Mode::Run, &limits).await;
    assert!(two.is_err(), "one statement at a time: {two:?}");
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_sequences WHERE sequencename = 'console_probe' AND last_value IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("sequence");
    assert_eq!(used, 0, "the refused write left nothing behind");
}

#[sqlx::test(migrations = false)]
async fn checks_on_a_catalog_are_the_same_as_on_the_database(pool: PgPool) {
    exec(
        &pool,
        "CREATE TABLE a (x int); COMMENT ON TABLE a IS 'a'; COMMENT ON COLUMN a.x IS 'x';",
    )
    .await;
    let catalog = introspect(&pool, &Scope::All).await.expect("introspect");
    let by_check: BTreeMap<Check, usize> = run_checks(&catalog, &Thresholds::default())
        .iter()
        .fold(BTreeMap::new(), |mut m, f| {
            *m.entry(f.check).or_default() += 1;
            m
        });
    assert_eq!(by_check, BTreeMap::from([(Check::NoPrimaryKey, 1)]));
}
