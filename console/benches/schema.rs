//! `make bench` (schema): a generated schema at the seed's scale — 300 tables in 20 modules,
//! each with comments, a primary key, foreign keys to earlier tables of its module and to a
//! shared users table, indexes and some rows — in a fresh database with Javari's migrations.
//! Prints the p50/p99 latency of the schema pages (index, search, table, module, findings)
//! served by the console in-process, the first (cold) page, and the time of a full
//! introspection and of a health scan with drift.
//! Asserts nothing about speed.

use std::time::{Duration, Instant};

use javari_console::auth::{Role, create_token, create_user};
use javari_console::{AppState, app};
use javari_core::schema::drift::DriftSource;
use javari_core::schema::health::{self, PLATFORM, Thresholds};
use javari_core::schema::{Scope, introspect};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const MODULES: usize = 20;
const TABLES_PER_MODULE: usize = 15;
const REQUESTS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn generate(pool: &PgPool) {
    let mut sql = String::from(
        "CREATE TABLE app_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
         COMMENT ON TABLE app_users IS 'Users of the generated platform';
         COMMENT ON COLUMN app_users.id IS 'Primary key'; COMMENT ON COLUMN app_users.email IS 'Email';
         INSERT INTO app_users (email) SELECT 'u' || i || '@bench.test' FROM generate_series(1, 1000) i;\n",
    );
    for m in 0..MODULES {
        for t in 0..TABLES_PER_MODULE {
            let name = format!("mod{m:02}_table{t:02}");
            let parent = (t > 0).then(|| format!("mod{m:02}_table{:02}", t - 1));
            sql.push_str(&format!(
                "CREATE TABLE {name} (
                     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     user_id uuid REFERENCES app_users (id),
                     {parent_col}
                     title text NOT NULL, status text NOT NULL DEFAULT 'active',
                     amount numeric(12, 2), details jsonb NOT NULL DEFAULT '{{}}',
                     created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz);
                 CREATE INDEX idx_{name}_user_id ON {name} (user_id);
                 CREATE INDEX idx_{name}_status_created_at ON {name} (status, created_at);
                 COMMENT ON TABLE {name} IS 'Generated table {t} of module {m}';
                 INSERT INTO {name} (user_id, title{parent_ins})
                     SELECT (SELECT id FROM app_users ORDER BY id LIMIT 1), 'row ' || i{parent_val}
                     FROM generate_series(1, 50) i;\n",
                parent_col = parent
                    .as_ref()
                    .map(|p| format!("parent_id bigint REFERENCES {p} (id),"))
                    .unwrap_or_default(),
                parent_ins = if parent.is_some() { ", parent_id" } else { "" },
                parent_val = if parent.is_some() { ", NULL" } else { "" },
            ));
            if parent.is_some() {
                sql.push_str(&format!(
                    "CREATE INDEX idx_{name}_parent_id ON {name} (parent_id);\n"
                ));
            }
        }
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("generate the schema");
    sqlx::raw_sql("ANALYZE")
        .execute(pool)
        .await
        .expect("analyze");
}

async fn measure(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Vec<Duration> {
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let _ = r.bytes().await.expect("body");
        times.push(started.elapsed());
    }
    times.sort();
    times
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL (make bench sets it to the private PostgreSQL)");
    let admin_pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect");
    let name = format!("javari_bench_schema_{}", std::process::id());
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&admin_pool)
            .await
            .expect("create the bench database");
    }
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options.database(&name))
        .await
        .expect("connect to the bench database");
    javari_core::db::migrate(&pool).await.expect("migrations");
    let started = Instant::now();
    generate(&pool).await;
    println!(
        "schema: generated {} tables in {MODULES} modules (plus Javari's) in {:.1} s",
        MODULES * TABLES_PER_MODULE + 1,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let catalog = introspect(&pool, &Scope::All).await.expect("introspect");
    println!(
        "schema: full introspection of {} tables: {} ms",
        catalog.tables.len(),
        started.elapsed().as_millis()
    );
    // Drift: the migrations are applied to a scratch database once per process (the first
    // scan), then the expected catalog is reused.
    let drift = DriftSource::beside(&javari_core::db::MIGRATOR, &pool);
    let started = Instant::now();
    let first = health::scan(
        &pool,
        &pool,
        PLATFORM,
        "manual",
        &Thresholds::default(),
        Some(&drift),
    )
    .await
    .expect("scan");
    assert!(first.drift_checked, "{:?}", first.drift_error);
    println!(
        "schema: first full health scan with drift (migrations applied to a scratch database): {} ms",
        started.elapsed().as_millis()
    );
    let mut scans = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        health::scan(
            &pool,
            &pool,
            PLATFORM,
            "manual",
            &Thresholds::default(),
            Some(&drift),
        )
        .await
        .expect("scan");
        scans.push(started.elapsed());
    }
    scans.sort();
    println!(
        "schema: full health scan with drift (introspection, checks, diff, findings stored), 5 runs: median {} ms, max {} ms (goal < 2000 ms)",
        scans[2].as_millis(),
        scans[4].as_millis()
    );

    let state = AppState::new(pool.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let admin = create_user(
        &pool,
        "admin@bench.test",
        "bench admin password 1234",
        Role::Admin,
    )
    .await
    .expect("admin");
    let token = create_token(&pool, &admin, "bench", Role::Admin)
        .await
        .expect("token")
        .token;
    let http = reqwest::Client::new();
    // The pages read an introspected snapshot (refreshed in the background after 15 s): the
    // first page waits for it.
    let started = Instant::now();
    let r = http
        .get(format!("{base}/schema"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("first page");
    assert_eq!(r.status().as_u16(), 200);
    let _ = r.bytes().await.expect("body");
    println!(
        "schema: first page, cold (reads the snapshot of the whole schema): {} ms",
        started.elapsed().as_millis()
    );
    for (label, path) in [
        ("index (all modules)", "/schema"),
        ("search", "/schema?q=table07"),
        (
            "table page + diagram",
            "/schema/tables/public/mod07_table07",
        ),
        (
            "hub table (300 referencing)",
            "/schema/tables/public/app_users",
        ),
        ("module page + diagram", "/schema/modules/mod07"),
        ("findings", "/schema/findings"),
    ] {
        let times = measure(&http, &base, &token, path).await;
        println!(
            "schema: {label:<28} {REQUESTS} requests: p50 {:.1} ms, p99 {:.1} ms (goal < 100 ms)",
            percentile(&times, 0.50).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        );
    }
    pool.close().await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin_pool)
    .await;
}
