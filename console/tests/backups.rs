//! The Backups page on a real PostgreSQL (and kube-apiserver for the actions): policies with
//! RPO now and the last drill's RTO, backups with size, ratio and verification level; admins
//! ask for a backup or a drill through the BackupPolicy's annotations; viewers cannot.

mod support;

use chrono::{Duration, Utc};
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BACKUP_NOW_ANNOTATION, VERIFY_NOW_ANNOTATION};
use javari_testenv::ControlPlane;
use kube::Api;
use kube::api::PostParams;
use sqlx::PgPool;
use support::{Harness, serve};
use uuid::Uuid;

async fn seed(pool: &PgPool, policy: &str) -> Uuid {
    let id = Uuid::new_v4();
    let at = Utc::now() - Duration::hours(3);
    sqlx::query(
        "INSERT INTO javari_backups (id, kind, status, policy, sha256, size_bytes, original_bytes, duration_ms, \
           snapshot_at, finished_at, started_at, verified_at, verification_level) \
         VALUES ($1, 'logical', 'verified', $2, repeat('b', 64), 2097152, 8388608, 4200, $3, $3, $3, $3, 'drill')",
    )
    .bind(id)
    .bind(policy)
    .bind(at)
    .execute(pool)
    .await
    .expect("backup row");
    sqlx::query(
        "INSERT INTO javari_backup_verifications (backup_id, level, ok, restore_ms, bytes_per_second) VALUES ($1, 'drill', true, 12345, 1000000)",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("drill row");
    id
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_page_shows_rpo_rto_ratio_and_verification(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let id = seed(&pool, "prod/platform-db").await;
    let html = h
        .http
        .get(h.url("/backups"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("prod/platform-db"), "{html}");
    assert!(html.contains(&id.to_string()));
    assert!(
        html.contains("3h 0m") || html.contains("2h 59m"),
        "RPO now: {html}"
    );
    assert!(html.contains("12.3s"), "last drill RTO");
    assert!(html.contains("4.0×"), "compression ratio");
    assert!(html.contains("2.0 MiB") && html.contains("8.0 MiB"));
    assert!(html.contains("drill"));
    assert!(!html.contains("Backup now"), "no actions for a viewer");

    let refused = h
        .http
        .post(h.url("/backups/prod/platform-db/backup-now"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("post");
    assert_eq!(
        refused.status().as_u16(),
        403,
        "viewers cannot ask for a backup"
    );
    let unavailable = h
        .http
        .post(h.url("/backups/prod/platform-db/backup-now"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("post");
    assert_eq!(unavailable.status().as_u16(), 503);
    assert!(
        unavailable
            .text()
            .await
            .expect("body")
            .contains("Kubernetes API"),
        "says why"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_overview_shows_the_freshest_backup_and_the_last_drill(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let before = h
        .http
        .get(h.url("/"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("overview")
        .text()
        .await
        .expect("html");
    assert!(before.contains("no complete backup") && before.contains("no drill yet"));
    seed(&pool, "prod/platform-db").await;
    let html = h
        .http
        .get(h.url("/"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("overview")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("prod/platform-db: 3h 0m ago")
            || html.contains("prod/platform-db: 2h 59m ago"),
        "freshest backup: {html}"
    );
    assert!(
        html.contains("passed, restored in 12.3s (RTO)"),
        "last drill: {html}"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn admin_actions_annotate_the_backup_policy(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let api: Api<BackupPolicy> = Api::namespaced(client.clone(), &ns);
    let policy: BackupPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "javari.ai/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "platform-db"}, "spec": {}
    }))
    .expect("policy");
    api.create(&PostParams::default(), &policy)
        .await
        .expect("create");
    seed(&pool, &format!("{ns}/platform-db")).await;
    let base = serve(h.state.clone().with_kube(client.clone())).await;
    let html = h
        .http
        .get(format!("{base}/backups"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Backup now") && html.contains("Verify now"));
    assert!(html.contains("Restore"), "admins get the restore form");
    // Policies come from Kubernetes: the schedule (the default) is shown.
    assert!(
        html.contains("0 3 * * *"),
        "schedule from the resource: {html}"
    );
    for (action, annotation) in [
        ("backup-now", BACKUP_NOW_ANNOTATION),
        ("verify-now", VERIFY_NOW_ANNOTATION),
    ] {
        let r = h
            .http
            .post(format!("{base}/backups/{ns}/platform-db/{action}"))
            .bearer_auth(&h.admin_token)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 303, "{action}");
        let stored = api.get("platform-db").await.expect("policy");
        assert!(
            stored
                .metadata
                .annotations
                .unwrap_or_default()
                .contains_key(annotation),
            "{annotation} set"
        );
    }
    // A policy without any backup yet is listed from Kubernetes, suspended and all.
    let quiet: BackupPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "javari.ai/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "quiet-db"}, "spec": {"suspend": true, "schedule": "15 2 * * 0"}
    }))
    .expect("policy");
    api.create(&PostParams::default(), &quiet)
        .await
        .expect("create");
    let html = h
        .http
        .get(format!("{base}/backups"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&format!("{ns}/quiet-db")), "{html}");
    assert!(html.contains("15 2 * * 0") && html.contains("suspended"));
    assert!(html.contains("no complete backup"), "its RPO now");
    let missing = h
        .http
        .post(format!("{base}/backups/{ns}/nope/backup-now"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status().as_u16(), 404);
}

// ---- Restores (admin): into a new database, or in place after a second admin approved. ----

mod restores {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use javari_console::auth::{Role, create_token, create_user};
    use javari_console::settings::BackupSettings;
    use javari_core::backups::{BackupOptions, Destination, StoreConfig, take_backup};
    use javari_testenv::fresh_database;
    use serde_json::{Value, json};
    use sqlx::{Connection, PgConnection, PgPool};
    use uuid::Uuid;

    use super::support::{self, Harness, PASSWORD};

    fn server_url() -> String {
        std::env::var("DATABASE_URL").expect("DATABASE_URL is set by `make test` (make test-pg)")
    }

    /// `server_url()` pointing at `database`.
    fn database_url(database: &str) -> String {
        let server = server_url();
        let (base, _) = server
            .rsplit_once('/')
            .expect("DATABASE_URL has a database");
        format!("{base}/{database}")
    }

    fn database_name(url: &str) -> String {
        url.rsplit_once('/')
            .expect("url")
            .1
            .split('?')
            .next()
            .expect("name")
            .to_owned()
    }

    /// A temporary directory removed when the test ends, also when it fails.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(what: &str) -> Self {
            let d = std::env::temp_dir().join(format!("javari-console-{what}-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&d).expect("temp dir");
            TempDir(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    struct Env {
        h: Harness,
        store: TempDir,
        _staging: TempDir,
    }

    async fn env(pool: PgPool) -> Env {
        let store = TempDir::new("store");
        let staging = TempDir::new("staging");
        let settings = javari_console::Settings {
            backups: BackupSettings {
                restore_server_url: Some(server_url()),
                staging_dir: staging.0.clone(),
                jobs: 2,
                approval_ttl: Duration::from_secs(600),
                max_concurrent_restores: 1,
            },
            ..support::test_settings()
        };
        let h = Harness::with_settings(pool, settings).await;
        Env {
            h,
            store,
            _staging: staging,
        }
    }

    /// A source database with a few tables of mixed types.
    async fn source() -> String {
        let url = fresh_database().await.expect("fresh database");
        let mut c = PgConnection::connect(&url).await.expect("connect");
        for sql in [
            "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, balance numeric(12,2))",
            "CREATE TABLE events (id bigserial PRIMARY KEY, account bigint REFERENCES accounts(id), kind text, at timestamptz DEFAULT now())",
            "INSERT INTO accounts (email, balance) SELECT 'a' || g || '@example.com', g / 3.0 FROM generate_series(1, 300) g",
            "INSERT INTO events (account, kind) SELECT 1 + g % 300, 'k' || g % 5 FROM generate_series(1, 3000) g",
        ] {
            sqlx::query(sql).execute(&mut c).await.expect(sql);
        }
        let _ = c.close().await;
        url
    }

    /// Every row of every user table, as a digest per table.
    async fn digests(url: &str) -> Vec<(String, i64, String)> {
        let mut c = PgConnection::connect(url).await.expect("connect");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(&mut c)
        .await
        .expect("tables");
        let mut out = Vec::new();
        for t in tables {
            let q = format!(
                "SELECT count(*), coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM \"{t}\" x"
            );
            let (n, d): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(q))
                .fetch_one(&mut c)
                .await
                .expect("digest");
            out.push((t, n, d));
        }
        let _ = c.close().await;
        out
    }

    async fn backup(e: &Env, source: &str) -> Uuid {
        let dest = Destination::open(&StoreConfig {
            url: format!("file://{}", e.store.0.display()),
            endpoint: None,
            region: None,
            keys: None,
        })
        .expect("store");
        let opts = BackupOptions {
            policy: "prod/app".to_owned(),
            source_url: source.to_owned(),
            level: 3,
            jobs: 2,
            staging_dir: e._staging.0.clone(),
            rate_limit: None,
            created_by: "test".to_owned(),
        };
        take_backup(&e.h.pool, &dest, e.h.vault.keys(), &opts)
            .await
            .expect("backup")
            .id
    }

    async fn post(e: &Env, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r =
            e.h.http
                .post(e.h.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls the restore until it is no longer running (60 s deadline).
    async fn finished(e: &Env, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r: Value =
                e.h.http
                    .get(e.h.url(&format!("/api/backups/restores/{id}")))
                    .bearer_auth(&e.h.admin_token)
                    .send()
                    .await
                    .expect("get")
                    .json()
                    .await
                    .expect("json");
            let status = r["restore"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !matches!(status.as_str(), "running" | "approved") {
                return r["restore"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "restore {id} still {status} after 60s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn audit_actions(e: &Env, restore: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT action FROM javari_audit_log WHERE resource_type = 'BackupRestore' AND resource_id = $1 ORDER BY id",
        )
        .bind(restore)
        .fetch_all(&e.h.pool)
        .await
        .expect("audit")
    }

    async fn second_admin(e: &Env) -> String {
        let app_pool = &e.h.app_pool;
        let other = create_user(app_pool, "second-admin@example.test", PASSWORD, Role::Admin)
            .await
            .expect("second admin");
        create_token(app_pool, &other, "tests", Role::Admin)
            .await
            .expect("token")
            .token
    }

    #[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
    async fn restore_into_a_new_database_matches_the_source_row_for_row(pool: PgPool) {
        let e = env(pool).await;
        let src = source().await;
        let id = backup(&e, &src).await;
        let target = format!(
            "javari_console_restored_{}",
            &Uuid::new_v4().simple().to_string()[..10]
        );

        let (status, body) = post(
            &e,
            &e.h.viewer_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": target}),
        )
        .await;
        assert_eq!(status, 403, "a viewer cannot restore: {body}");
        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": "Bad-Name; DROP"}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("invalid database name")
        );

        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": target}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["restore"]["mode"], "new");
        let rid = body["restore"]["id"].as_str().expect("id").to_owned();
        let done = finished(&e, &rid).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert!(done["restore_ms"].as_i64().expect("restore time") > 0);
        let want = digests(&src).await;
        assert_eq!(want.len(), 2);
        assert_eq!(digests(&database_url(&target)).await, want, "row for row");
        assert_eq!(audit_actions(&e, &rid).await, vec!["backup.restore"]);

        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": target}),
        )
        .await;
        assert_eq!(
            status, 409,
            "an existing database is never overwritten: {body}"
        );
        let (status, _) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{}/restore", Uuid::new_v4()),
            json!({"database": "javari_nothing_here"}),
        )
        .await;
        assert_eq!(status, 404);
    }

    #[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
    async fn an_in_place_restore_runs_only_with_a_second_admins_approval_before_it_expires(
        pool: PgPool,
    ) {
        let e = env(pool).await;
        let src = source().await;
        let db = database_name(&src);
        let id = backup(&e, &src).await;
        let at_backup = digests(&src).await;
        // After the backup, the data changes (the damage the restore undoes).
        {
            let mut c = PgConnection::connect(&src).await.expect("connect");
            sqlx::query("DELETE FROM events WHERE id % 2 = 0")
                .execute(&mut c)
                .await
                .expect("damage");
            let _ = c.close().await;
        }
        let damaged = digests(&src).await;
        assert_ne!(damaged, at_backup);

        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": db, "mode": "in_place"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["restore"]["status"], "requested");
        let rid = body["restore"]["id"].as_str().expect("id").to_owned();

        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/restores/{rid}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, 403, "no self-approval: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("second admin")
        );
        let (status, _) = post(
            &e,
            &e.h.viewer_token,
            &format!("/api/backups/restores/{rid}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, 403, "a viewer cannot approve");
        assert_eq!(digests(&src).await, damaged, "nothing ran yet");

        let other = second_admin(&e).await;
        let (status, body) = post(
            &e,
            &other,
            &format!("/api/backups/restores/{rid}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["restore"]["approved_by"], "second-admin@example.test");
        let done = finished(&e, &rid).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            digests(&src).await,
            at_backup,
            "the database is back as backed up"
        );
        let replaced = done["replaced_database"]
            .as_str()
            .expect("old copy")
            .to_owned();
        assert_eq!(
            digests(&database_url(&replaced)).await,
            damaged,
            "the replaced database is kept"
        );
        assert_eq!(
            audit_actions(&e, &rid).await,
            vec!["backup.restore.request", "backup.restore.approve"]
        );

        // A request no second admin approved in time cannot run.
        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": db, "mode": "in_place"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let late = body["restore"]["id"].as_str().expect("id").to_owned();
        sqlx::query("UPDATE javari_backup_restores SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
            .bind(&late)
            .execute(&e.h.pool)
            .await
            .expect("let it expire");
        let (status, body) = post(
            &e,
            &other,
            &format!("/api/backups/restores/{late}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("expired")
        );
        let r: Value =
            e.h.http
                .get(e.h.url(&format!("/api/backups/restores/{late}")))
                .bearer_auth(&e.h.admin_token)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
        assert_eq!(r["restore"]["status"], "expired");
        assert!(r["restore"]["approved_by"].is_null());
        let (status, _) = post(
            &e,
            &other,
            &format!("/api/backups/restores/{late}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, 409, "an expired request stays refused");

        // The platform's own database is never replaced in place.
        let catalog: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&e.h.pool)
            .await
            .expect("catalog");
        let (status, body) = post(
            &e,
            &e.h.admin_token,
            &format!("/api/backups/{id}/restore"),
            json!({"database": catalog, "mode": "in_place"}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
}
