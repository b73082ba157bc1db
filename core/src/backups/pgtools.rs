//! PostgreSQL's own tools (`pg_dump`, `pg_restore`) run as child processes, in the version
//! that matches the server, and the catalog facts a manifest records (schema hash, row counts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tokio::io::AsyncReadExt;

use super::BackupError;

/// Longest stderr kept from a tool for an error message.
const STDERR_LIMIT: usize = 16 * 1024;

/// A database URL split into what a tool gets on its command line (no password) and the
/// password it gets through `PGPASSWORD`, so the password never shows in a process list.
#[derive(Clone)]
pub struct ConnInfo {
    pub url_without_password: String,
    password: Option<String>,
    pub database: String,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnInfo({})", self.url_without_password)
    }
}

impl ConnInfo {
    pub fn parse(url: &str) -> Result<Self, BackupError> {
        let mut u = url::Url::parse(url).map_err(|e| BackupError::Source {
            reason: format!("invalid database URL: {e}"),
        })?;
        let password = u.password().map(percent_decode);
        let _ = u.set_password(None);
        let database = u.path().trim_start_matches('/').to_owned();
        Ok(Self {
            url_without_password: u.to_string(),
            password,
            database,
        })
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> Result<Self, BackupError> {
        let mut u =
            url::Url::parse(&self.url_without_password).map_err(|e| BackupError::Source {
                reason: e.to_string(),
            })?;
        u.set_path(&format!("/{database}"));
        Ok(Self {
            url_without_password: u.to_string(),
            password: self.password.clone(),
            database: database.to_owned(),
        })
    }

    /// A URL with the password, for sqlx connections inside this process only.
    pub fn full_url(&self) -> String {
        match (&self.password, url::Url::parse(&self.url_without_password)) {
            (Some(p), Ok(mut u)) => {
                let _ = u.set_password(Some(p));
                u.to_string()
            }
            _ => self.url_without_password.clone(),
        }
    }

    fn apply(&self, cmd: &mut tokio::process::Command) {
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of PostgreSQL `major`'s client tools: `JAVARI_PG_BIN_DIR`, else Debian's
/// `/usr/lib/postgresql/<major>/bin`, else the newest installed version above it.
pub fn tool(name: &str, server_major: u32) -> Result<PathBuf, BackupError> {
    if let Some(dir) = std::env::var_os("JAVARI_PG_BIN_DIR") {
        return Ok(PathBuf::from(dir).join(name));
    }
    let exact = PathBuf::from(format!("/usr/lib/postgresql/{server_major}/bin/{name}"));
    if exact.exists() {
        return Ok(exact);
    }
    let mut newer: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|v| *v >= server_major)
                .collect()
        })
        .unwrap_or_default();
    newer.sort_unstable();
    newer
        .first()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}")))
        .filter(|p| p.exists())
        .ok_or_else(|| BackupError::ToolMissing {
            tool: name.to_owned(),
            major: server_major,
        })
}

/// Runs a tool to completion; a failure carries the end of its stderr.
pub async fn run(program: &Path, args: &[String], conn: &ConnInfo) -> Result<String, BackupError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    conn.apply(&mut cmd);
    let name = program
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tool")
        .to_owned();
    let mut child = cmd.spawn().map_err(|e| BackupError::Tool {
        tool: name.clone(),
        reason: format!("cannot start {}: {e}", program.display()),
    })?;
    let mut stdout = child.stdout.take().ok_or_else(|| BackupError::Tool {
        tool: name.clone(),
        reason: "no stdout".to_owned(),
    })?;
    let mut stderr = child.stderr.take().ok_or_else(|| BackupError::Tool {
        tool: name.clone(),
        reason: "no stderr".to_owned(),
    })?;
    let out_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s).await;
        s
    });
    let err_task = tokio::spawn(async move {
        let mut s = Vec::new();
        let _ = (&mut stderr).take(1 << 20).read_to_end(&mut s).await;
        s
    });
    let status = child.wait().await.map_err(|e| BackupError::Tool {
        tool: name.clone(),
        reason: e.to_string(),
    })?;
    let out = out_task.await.unwrap_or_default();
    let err = err_task.await.unwrap_or_default();
    if !status.success() {
        let tail = &err[err.len().saturating_sub(STDERR_LIMIT)..];
        return Err(BackupError::Tool {
            tool: name,
            reason: format!("{status}: {}", String::from_utf8_lossy(tail).trim()),
        });
    }
    Ok(out)
}

/// `pg_dump --version` → `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
pub async fn version(program: &Path) -> Result<String, BackupError> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .output()
        .await
        .map_err(|e| BackupError::Tool {
            tool: program.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The server's version string and major number.
pub async fn server_version(conn: &mut PgConnection) -> Result<(String, u32), sqlx::Error> {
    let (text, num): (String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('server_version_num')",
    )
    .fetch_one(conn)
    .await?;
    let major = num.parse::<u32>().unwrap_or(0) / 10000;
    Ok((text, major))
}

const USER_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// A SHA-256 over the user schemas' columns, constraints and indexes (names, types, defaults,
/// definitions), independent of ownership, privileges and physical column order.
pub async fn schema_hash(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    let columns = format!(
        "SELECT n.nspname || '.' || c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) \
           || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND {USER_SCHEMAS}"
    );
    let constraints = format!(
        "SELECT n.nspname || '.' || c.relname || '.' || k.conname || ':' || pg_get_constraintdef(k.oid) \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_SCHEMAS}"
    );
    let indexes = format!(
        "SELECT n.nspname || ':' || pg_get_indexdef(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}"
    );
    let mut h = Sha256::new();
    for q in [columns, constraints, indexes] {
        let mut lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_all(&mut *conn)
            .await?;
        lines.sort();
        for l in lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        h.update(b"--\n");
    }
    Ok(hex::encode(h.finalize()))
}

/// Rows of every user table (`schema.table`), extension-owned tables excluded.
pub async fn row_counts(conn: &mut PgConnection) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND {USER_SCHEMAS} \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1, 2"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = BTreeMap::new();
    for (schema, table) in tables {
        let q = format!(
            "SELECT count(*) FROM {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&mut *conn)
            .await?;
        counts.insert(format!("{schema}.{table}"), n);
    }
    Ok(counts)
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
