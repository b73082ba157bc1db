//! Backups on a real PostgreSQL with Debian's pg_dump/pg_restore, into a real S3 protocol
//! server (gofakes3 on loopback) or a local directory: backup → drill → restored database
//! equal row for row; retention over a simulated month; kill -9 mid-backup; a flipped byte;
//! a wrong key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use javari_core::backups::{
    BackupError, BackupOptions, BackupStatus, Destination, RetentionRule, S3Keys, StoreConfig,
    VerificationLevel, list_backups, list_verifications, prune, restorable_in_store,
    restore_into_new_database, staging_path, take_backup, verify,
};
use javari_core::vault::{Keyring, MasterKey};
use javari_testenv::{FakeS3, fresh_database};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL is set by `make test` (make test-pg)")
}

fn keyring() -> Keyring {
    Keyring::new(MasterKey::generate(), vec![])
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("javari-{what}-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A per-test staging directory, removed when the test ends (also when it fails), so killed
/// or failed runs never leave dumps behind in the system temp dir.
struct Staging(PathBuf);

impl Staging {
    fn new() -> Self {
        Staging(temp_dir("staging"))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// What is left in it.
    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local_dest(dir: &Path) -> Destination {
    Destination::open(&StoreConfig {
        url: format!("file://{}", dir.display()),
        endpoint: None,
        region: None,
        keys: None,
    })
    .expect("local destination")
}

fn options(policy: &str, source: &str, staging: &Staging) -> BackupOptions {
    BackupOptions {
        policy: policy.to_owned(),
        source_url: source.to_owned(),
        level: 3,
        jobs: 2,
        staging_dir: staging.path().to_owned(),
        rate_limit: None,
        created_by: "test".to_owned(),
    }
}

/// A source database with a few tables of varied types; `rows` rows in the big one.
async fn source_database(rows: i64) -> String {
    let url = fresh_database().await.expect("fresh database");
    let mut c = PgConnection::connect(&url).await.expect("connect source");
    for sql in [
        "CREATE SCHEMA app",
        "CREATE TABLE app.users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, created timestamptz NOT NULL DEFAULT now(), prefs jsonb)",
        "CREATE TABLE app.events (id bigserial PRIMARY KEY, user_id bigint REFERENCES app.users(id), kind text NOT NULL, payload text, amount numeric(12,2))",
        "CREATE INDEX events_kind ON app.events (kind)",
        "CREATE TABLE public.empty_table (id int)",
        "INSERT INTO app.users (email, prefs) SELECT 'u' || g || '@example.com', jsonb_build_object('n', g) FROM generate_series(1, 500) g",
    ] {
        sqlx::query(sql).execute(&mut c).await.expect(sql);
    }
    sqlx::query(
        "INSERT INTO app.events (user_id, kind, payload, amount) \
         SELECT 1 + (g % 500), 'k' || (g % 7), md5(g::text) || md5(random()::text), (g % 1000) / 7.0 \
         FROM generate_series(1, $1) g",
    )
    .bind(rows)
    .execute(&mut c)
    .await
    .expect("events");
    let _ = c.close().await;
    url
}

/// A digest of every row of every user table, for row-for-row comparison.
async fn table_digests(url: &str) -> Vec<(String, i64, String)> {
    let mut c = PgConnection::connect(url).await.expect("connect");
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT schemaname::text, tablename::text FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    .fetch_all(&mut c)
    .await
    .expect("tables");
    let mut out = Vec::new();
    for (s, t) in tables {
        let q = format!(
            "SELECT count(*), coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM \"{s}\".\"{t}\" x"
        );
        let (n, digest): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(q))
            .fetch_one(&mut c)
            .await
            .expect("digest");
        out.push((format!("{s}.{t}"), n, digest));
    }
    let _ = c.close().await;
    out
}

fn database_url(name: &str) -> String {
    let mut u = url::Url::parse(&server_url()).expect("DATABASE_URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn backup_to_s3_then_drill_and_restore_match_the_source_row_for_row(pool: PgPool) {
    let staging = Staging::new();
    let s3 = FakeS3::start("backups").await.expect("gofakes3");
    let dest = Destination::open(&StoreConfig {
        url: format!("s3://{}/javari", s3.bucket()),
        endpoint: Some(s3.endpoint().to_owned()),
        region: None,
        keys: Some(S3Keys {
            access_key_id: "test".to_owned(),
            secret_access_key: "test-secret".to_owned(),
        }),
    })
    .expect("s3 destination");
    let source = source_database(20_000).await;
    let keys = keyring();
    let summary = take_backup(&pool, &dest, &keys, &options("prod/db", &source, &staging))
        .await
        .expect("backup");
    let m = &summary.manifest;
    assert_eq!(m.row_counts.get("app.events"), Some(&20_000));
    assert_eq!(m.row_counts.get("app.users"), Some(&500));
    assert_eq!(m.row_counts.get("public.empty_table"), Some(&0));
    assert!(m.files.iter().any(|f| f.name == "toc.dat"));
    assert!(m.stored_bytes() < m.original_bytes(), "compressed");
    assert!(m.server_version.starts_with(char::is_numeric));
    assert!(m.pg_dump_version.contains("pg_dump"));
    assert_eq!(
        restorable_in_store(&dest, "prod/db").await.expect("list"),
        BTreeSet::from([summary.id])
    );

    let drill = verify(
        &pool,
        &dest,
        &keys,
        summary.id,
        VerificationLevel::Drill,
        Some(&server_url()),
        2,
        staging.path(),
    )
    .await
    .expect("drill")
    .expect("drill report");
    assert!(drill.restore_time > Duration::ZERO);
    assert!(drill.bytes_per_second > 0.0);
    let levels: Vec<(String, bool)> = list_verifications(&pool, summary.id)
        .await
        .expect("verifications")
        .into_iter()
        .map(|v| (v.level, v.ok))
        .collect();
    for level in ["checksums", "catalog", "drill"] {
        assert!(levels.contains(&(level.to_owned(), true)), "{levels:?}");
    }
    let row = &list_backups(&pool, Some("prod/db"), 10)
        .await
        .expect("rows")[0];
    assert_eq!(
        (row.status.as_str(), row.verification_level.as_str()),
        ("verified", "drill")
    );
    assert!(row.compression_ratio().expect("ratio") > 1.0);

    let target = format!(
        "javari_restored_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let report = restore_into_new_database(
        &pool,
        &dest,
        &keys,
        summary.id,
        &server_url(),
        &target,
        2,
        staging.path(),
        "alice@example.com",
    )
    .await
    .expect("restore");
    assert!(report.matches(), "{report:?}");
    let src = table_digests(&source).await;
    assert_eq!(src.len(), 3);
    assert_eq!(table_digests(&database_url(&target)).await, src);

    let again = restore_into_new_database(
        &pool,
        &dest,
        &keys,
        summary.id,
        &server_url(),
        &target,
        2,
        staging.path(),
        "alice@example.com",
    )
    .await;
    assert!(
        matches!(again, Err(BackupError::TargetExists { .. })),
        "an existing database is never overwritten: {again:?}"
    );
    assert_eq!(
        staging.entries(),
        Vec::<String>::new(),
        "backup, drill and restore remove what they staged"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_flipped_byte_is_caught_by_verification_and_named(pool: PgPool) {
    let staging = Staging::new();
    let dir = temp_dir("backups");
    let dest = local_dest(&dir);
    let source = source_database(2_000).await;
    let keys = keyring();
    let s = take_backup(
        &pool,
        &dest,
        &keys,
        &options("prod/flip", &source, &staging),
    )
    .await
    .expect("backup");
    verify(
        &pool,
        &dest,
        &keys,
        s.id,
        VerificationLevel::Catalog,
        None,
        2,
        &dir,
    )
    .await
    .expect("intact backup verifies");
    let biggest = s
        .manifest
        .files
        .iter()
        .max_by_key(|f| f.stored_bytes)
        .expect("files");
    let path = dir
        .join("prod/flip")
        .join(s.id.to_string())
        .join("files")
        .join(&biggest.name);
    let mut bytes = std::fs::read(&path).expect("stored object");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&path, bytes).expect("flip");

    let err = verify(
        &pool,
        &dest,
        &keys,
        s.id,
        VerificationLevel::Checksums,
        None,
        2,
        &dir,
    )
    .await
    .expect_err("flipped byte");
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&biggest.name), "{err}");
    let row = &list_backups(&pool, Some("prod/flip"), 1)
        .await
        .expect("rows")[0];
    assert_eq!(row.status, BackupStatus::Corrupt);
    let last = &list_verifications(&pool, s.id)
        .await
        .expect("verifications")[0];
    assert!(!last.ok);
    assert!(
        last.detail
            .as_deref()
            .unwrap_or_default()
            .contains(&biggest.name)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_wrong_key_is_refused_by_name(pool: PgPool) {
    let staging = Staging::new();
    let dir = temp_dir("backups");
    let dest = local_dest(&dir);
    let source = source_database(100).await;
    let keys = keyring();
    let s = take_backup(
        &pool,
        &dest,
        &keys,
        &options("prod/keys", &source, &staging),
    )
    .await
    .expect("backup");
    let other = keyring();
    let err = verify(
        &pool,
        &dest,
        &other,
        s.id,
        VerificationLevel::Catalog,
        None,
        2,
        &dir,
    )
    .await
    .expect_err("another master key");
    assert!(matches!(err, BackupError::Key { .. }), "{err}");
    assert!(err.to_string().contains(&s.id.to_string()), "{err}");
    assert!(
        err.to_string().contains(keys.current().id()),
        "names the master key it needs: {err}"
    );

    // Another backup's data key in this backup's manifest: refused, naming the backup.
    let s2 = take_backup(
        &pool,
        &dest,
        &keys,
        &options("prod/keys", &source, &staging),
    )
    .await
    .expect("second backup");
    let manifest_path = dir
        .join("prod/keys")
        .join(s.id.to_string())
        .join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    m["key"] = serde_json::to_value(&s2.manifest.key).expect("key");
    std::fs::write(&manifest_path, serde_json::to_vec(&m).expect("json")).expect("write");
    let err = verify(
        &pool,
        &dest,
        &keys,
        s.id,
        VerificationLevel::Catalog,
        None,
        2,
        &dir,
    )
    .await
    .expect_err("swapped data key");
    assert!(err.to_string().contains(&s.id.to_string()), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn retention_over_a_simulated_month_keeps_exactly_what_the_policy_says(pool: PgPool) {
    let staging = Staging::new();
    let dir = temp_dir("backups");
    let dest = local_dest(&dir);
    let source = source_database(10).await;
    let keys = keyring();
    // 16 backups, one every other day of October at 03:00.
    let mut ids = Vec::new();
    for i in 0..16u32 {
        let s = take_backup(&pool, &dest, &keys, &options("prod/ret", &source, &staging))
            .await
            .expect("backup");
        let at = Utc
            .with_ymd_and_hms(2026, 10, 1 + 2 * i, 3, 0, 0)
            .single()
            .expect("time");
        let status = if i == 3 { "verified" } else { "completed" };
        sqlx::query("UPDATE javari_backups SET snapshot_at = $2, status = $3 WHERE id = $1")
            .bind(s.id)
            .bind(at)
            .bind(status)
            .execute(&pool)
            .await
            .expect("simulate time");
        ids.push(s.id);
    }
    let rule = RetentionRule {
        keep_last: 2,
        daily: 3,
        weekly: 2,
        monthly: 2,
    };
    let preview = prune(&pool, &dest, "prod/ret", rule, true)
        .await
        .expect("preview");
    assert_eq!(
        restorable_in_store(&dest, "prod/ret")
            .await
            .expect("list")
            .len(),
        16,
        "a preview deletes nothing"
    );
    // Days 31, 29 (last 2); 31, 29, 27 (daily 3); week 44 (Oct 31) and week 43 (Oct 25);
    // October (monthly; no other month); Oct 7 (i = 3), the only verified one.
    let day = |i: usize| ids[i];
    let want: BTreeSet<Uuid> = [day(15), day(14), day(13), day(12), day(3)].into();
    let kept: BTreeSet<Uuid> = preview.keep.iter().map(|k| k.0).collect();
    assert_eq!(kept, want);
    assert_eq!(preview.prune.len(), 11);

    let done = prune(&pool, &dest, "prod/ret", rule, false)
        .await
        .expect("prune");
    assert_eq!(done, preview, "the prune does what the preview said");
    assert_eq!(
        restorable_in_store(&dest, "prod/ret").await.expect("list"),
        want
    );
    let pruned: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM javari_backups WHERE status = 'pruned'")
            .fetch_all(&pool)
            .await
            .expect("pruned");
    assert_eq!(pruned.len(), 11);
    for id in pruned {
        assert!(
            !dir.join("prod/ret").join(id.to_string()).exists(),
            "objects of {id} deleted"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn kill_9_mid_backup_leaves_nothing_complete_and_the_next_run_cleans_up(pool: PgPool) {
    let staging = Staging::new();
    let dir = temp_dir("backups");
    let dest = local_dest(&dir);
    let source = source_database(60_000).await;
    let key = MasterKey::generate();
    let catalog = pool.connect_options();
    let catalog_url = format!(
        "postgres://postgres@{}:{}/{}",
        catalog.get_host(),
        catalog.get_port(),
        catalog.get_database().expect("test database")
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_javari-backup"))
        .arg("take")
        .env("DATABASE_URL", &catalog_url)
        .env("JAVARI_BACKUP_SOURCE", &source)
        .env("JAVARI_BACKUP_DEST", format!("file://{}", dir.display()))
        .env("JAVARI_BACKUP_POLICY", "prod/crash")
        .env("JAVARI_MASTER_KEY", key.to_hex().as_str())
        .env("JAVARI_BACKUP_STAGING", staging.path())
        // Slow enough that the kill lands mid-upload.
        .env("JAVARI_BACKUP_RATE_LIMIT", "200000")
        .spawn()
        .expect("javari-backup");

    // Wait until the backup is recorded as running and has written objects, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    let running: Uuid = loop {
        let row: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM javari_backups WHERE status = 'running'")
                .fetch_optional(&pool)
                .await
                .expect("query");
        if let Some(id) = row {
            let files = dir.join("prod/crash").join(id.to_string()).join("files");
            if std::fs::read_dir(&files).map(|d| d.count()).unwrap_or(0) > 0 {
                break id;
            }
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the backup ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no backup objects within 60s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(dir.join("prod/crash").join(running.to_string()).exists());
    let left_staged = staging_path(staging.path(), running);
    assert!(
        left_staged.exists(),
        "the killed backup left its staged dump at {}",
        left_staged.display()
    );

    assert!(
        restorable_in_store(&dest, "prod/crash")
            .await
            .expect("list")
            .is_empty(),
        "a killed backup is never restorable"
    );
    assert!(
        !dir.join("prod/crash")
            .join(running.to_string())
            .join("manifest.json")
            .exists()
    );
    let rows = list_backups(&pool, Some("prod/crash"), 10)
        .await
        .expect("rows");
    assert!(rows.iter().all(|r| !r.is_complete()), "{rows:?}");

    let keys = Keyring::new(key, vec![]);
    let next = take_backup(
        &pool,
        &dest,
        &keys,
        &options("prod/crash", &source, &staging),
    )
    .await
    .expect("the next run succeeds");
    // Objects (or, for a local store, the multipart staging files of the killed uploads) of
    // the killed backup were on disk before the next run and are gone after it.
    assert!(
        !dir.join("prod/crash").join(running.to_string()).exists(),
        "partial objects cleaned"
    );
    assert!(
        !left_staged.exists(),
        "the killed backup's staging dir is removed by the next run"
    );
    assert_eq!(
        staging.entries(),
        Vec::<String>::new(),
        "nothing left staged after the next run"
    );
    let old = list_backups(&pool, Some("prod/crash"), 10)
        .await
        .expect("rows")
        .into_iter()
        .find(|r| r.id == running)
        .expect("old row");
    assert_eq!(old.status, BackupStatus::Failed);
    assert!(
        old.error
            .as_deref()
            .unwrap_or_default()
            .contains("interrupted")
    );
    assert_eq!(
        restorable_in_store(&dest, "prod/crash")
            .await
            .expect("list"),
        BTreeSet::from([next.id])
    );
    assert_eq!(next.manifest.row_counts.get("app.events"), Some(&60_000));
    let _ = std::fs::remove_dir_all(dir);
}
