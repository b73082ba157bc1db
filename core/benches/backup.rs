//! `make bench` (backup): on a generated database of about 1 GiB (four tables of mixed ints and
//! text from generate_series; reused when it already exists at that size), in one run:
//! plain `pg_dump -Fd -j2 -Z0` to a local directory (time, bytes) against Javari's backup of
//! the same database to a local object store on the same disk (time, throughput, % of
//! pg_dump's throughput, compression ratio), then plain `pg_restore -j2` into a new database
//! against Javari's restore (download, check, decrypt, decompress, `pg_restore -j2`, compare).
//! Prints the figures and the machine's load; asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use javari_core::backups::{
    BackupOptions, Destination, StoreConfig, pg_tool, restore_into_new_database, take_backup,
};
use javari_core::vault::{Keyring, MasterKey};
use sqlx::{Connection, PgConnection};

const SOURCE: &str = "javari_bench_backup_source";
const CATALOG: &str = "javari_bench_backup_catalog";
const TARGET_BYTES: i64 = 1 << 30;
const TABLES: usize = 4;
/// Rows per table that make about 1 GiB (~225 bytes a row with its primary key index).
const ROWS_PER_TABLE: i64 = 1_200_000;
const JOBS: u32 = 2;
/// The default policy's zstd level.
const LEVEL: i32 = 1;

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL is set by `make bench` (make test-pg)")
}

fn with_db(db: &str) -> String {
    let s = server_url();
    let (base, _) = s.rsplit_once('/').expect("DATABASE_URL names a database");
    format!("{base}/{db}")
}

async fn exec(url: &str, sql: &str) {
    let mut c = PgConnection::connect(url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.close().await;
}

async fn database_size(db: &str) -> Option<i64> {
    let mut c = PgConnection::connect(&server_url()).await.expect("connect");
    let size: Option<i64> =
        sqlx::query_scalar("SELECT pg_database_size(datname) FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&mut c)
            .await
            .expect("size");
    let _ = c.close().await;
    size
}

/// The ~1 GiB source, generated unless it exists at about that size.
async fn source() -> i64 {
    if let Some(size) = database_size(SOURCE).await
        && size >= TARGET_BYTES * 9 / 10
    {
        println!("source: reusing {SOURCE} ({})", gib(size));
        return size;
    }
    let started = Instant::now();
    exec(
        &server_url(),
        &format!("DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)"),
    )
    .await;
    exec(&server_url(), &format!("CREATE DATABASE {SOURCE}")).await;
    let url = with_db(SOURCE);
    for t in 0..TABLES {
        exec(
            &url,
            &format!(
                "CREATE TABLE events_{t} (id bigint PRIMARY KEY, account int NOT NULL, amount bigint, \
                 kind text NOT NULL, ref text NOT NULL, note text, at timestamptz NOT NULL)"
            ),
        )
        .await;
        // Mixed text: hex digests (hardly compressible), repeated words (very), numbers.
        exec(
            &url,
            &format!(
                "INSERT INTO events_{t} SELECT g, g % 100000, (g::bigint * 7919) % 1000003, \
                 'kind-' || (g % 17), md5(g::text) || md5((g + {t})::text), \
                 'event ' || g || ' for account ' || (g % 100000) || ' settled by batch ' || (g / 1000) || ' ' || repeat('ok ', (g % 20)::int), \
                 timestamptz '2026-01-01' + g * interval '1 second' \
                 FROM generate_series(1, {ROWS_PER_TABLE}) g"
            ),
        )
        .await;
    }
    exec(&url, "VACUUM ANALYZE").await;
    let size = database_size(SOURCE).await.expect("source exists");
    println!(
        "source: generated {SOURCE} ({}) in {:.1}s",
        gib(size),
        started.elapsed().as_secs_f64()
    );
    size
}

fn gib(n: i64) -> String {
    format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64)
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1u64 << 20) as f64 / d.as_secs_f64().max(1e-3)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).expect("dir").flatten() {
        let m = e.metadata().expect("metadata");
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn run(tool: &Path, args: &[String]) -> Duration {
    let started = Instant::now();
    let out = tokio::process::Command::new(tool)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

#[tokio::main]
async fn main() {
    println!(
        "load average before: {} ({} CPUs)",
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let size = source().await;
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("backup-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let major: u32 = {
        let mut c = PgConnection::connect(&server_url()).await.expect("connect");
        let v: String = sqlx::query_scalar("SHOW server_version_num")
            .fetch_one(&mut c)
            .await
            .expect("version");
        v.parse::<u32>().expect("number") / 10000
    };
    let pg_dump = pg_tool("pg_dump", major).expect("pg_dump");
    let pg_restore = pg_tool("pg_restore", major).expect("pg_restore");
    let source_url = with_db(SOURCE);

    // 1. Plain pg_dump, uncompressed, 2 jobs, to the same disk.
    let plain = work.join("plain");
    let dump_time = run(
        &pg_dump,
        &[
            "-Fd".to_owned(),
            format!("-j{JOBS}"),
            "-Z0".to_owned(),
            format!("--file={}", plain.display()),
            format!("--dbname={source_url}"),
        ],
    )
    .await;
    let dump_bytes = dir_bytes(&plain);
    let dump_tp = mib_s(dump_bytes, dump_time);
    println!(
        "pg_dump -Fd -j{JOBS} -Z0: {:.1}s, {} written, {dump_tp:.1} MiB/s",
        dump_time.as_secs_f64(),
        gib(dump_bytes as i64)
    );

    // 2. Javari's backup: the same dump streamed through zstd and AES-256-GCM into a local store.
    exec(
        &server_url(),
        &format!("DROP DATABASE IF EXISTS {CATALOG} WITH (FORCE)"),
    )
    .await;
    exec(&server_url(), &format!("CREATE DATABASE {CATALOG}")).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&with_db(CATALOG))
        .await
        .expect("catalog");
    javari_core::db::MIGRATOR
        .run(&pool)
        .await
        .expect("migrations");
    let store = work.join("store");
    std::fs::create_dir_all(&store).expect("store dir");
    let dest = Destination::open(&StoreConfig {
        url: format!("file://{}", store.display()),
        endpoint: None,
        region: None,
        keys: None,
    })
    .expect("store");
    let keys = Keyring::new(MasterKey::generate(), vec![]);
    let staging = work.join("staging");
    std::fs::create_dir_all(&staging).expect("staging dir");
    let opts = BackupOptions {
        policy: "bench/backup".to_owned(),
        source_url: source_url.clone(),
        level: LEVEL,
        jobs: JOBS,
        staging_dir: staging.clone(),
        rate_limit: None,
        created_by: "bench".to_owned(),
    };
    let started = Instant::now();
    let s = take_backup(&pool, &dest, &keys, &opts)
        .await
        .expect("backup");
    let backup_time = started.elapsed();
    let original = s.manifest.original_bytes();
    let stored = s.manifest.stored_bytes();
    let backup_tp = mib_s(original, backup_time);
    println!(
        "javari backup (zstd {LEVEL}, AES-256-GCM, {JOBS} jobs): {:.1}s, {} dumped -> {} stored, {backup_tp:.1} MiB/s of dump = {:.0}% of pg_dump's throughput, compression ratio {:.2}x",
        backup_time.as_secs_f64(),
        gib(original as i64),
        gib(stored as i64),
        100.0 * backup_tp / dump_tp,
        original as f64 / stored.max(1) as f64
    );

    // 3. Restores into new databases: plain pg_restore of the plain dump vs Javari's restore.
    let plain_target = "javari_bench_restore_plain";
    let javari_target = "javari_bench_restore_javari";
    for db in [plain_target, javari_target] {
        exec(
            &server_url(),
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        )
        .await;
    }
    exec(&server_url(), &format!("CREATE DATABASE {plain_target}")).await;
    let restore_plain = run(
        &pg_restore,
        &[
            format!("-j{JOBS}"),
            "--no-owner".to_owned(),
            "--no-privileges".to_owned(),
            "--exit-on-error".to_owned(),
            format!("--dbname={}", with_db(plain_target)),
            plain.display().to_string(),
        ],
    )
    .await;
    println!("pg_restore -j{JOBS}: {:.1}s", restore_plain.as_secs_f64());
    let started = Instant::now();
    let report = restore_into_new_database(
        &pool,
        &dest,
        &keys,
        s.id,
        &server_url(),
        javari_target,
        JOBS,
        &staging,
        "bench",
    )
    .await
    .expect("restore");
    let restore_javari = started.elapsed();
    assert!(
        report.matches(),
        "the restore matches the manifest: {report:?}"
    );
    println!(
        "javari restore (download, SHA-256, decrypt, decompress, pg_restore -j{JOBS}, compare): {:.1}s = {:.0}% of pg_restore's time",
        restore_javari.as_secs_f64(),
        100.0 * restore_javari.as_secs_f64() / restore_plain.as_secs_f64()
    );
    println!(
        "database {}: dump {}, stored {}",
        gib(size),
        gib(dump_bytes as i64),
        gib(stored as i64)
    );
    println!("load average after: {}", loadavg());

    pool.close().await;
    for db in [plain_target, javari_target, CATALOG] {
        exec(
            &server_url(),
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        )
        .await;
    }
    let _ = std::fs::remove_dir_all(&work);
}
