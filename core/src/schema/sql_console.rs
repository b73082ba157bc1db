//! The read-only SQL console: one statement, run in a READ ONLY transaction with a statement
//! timeout and a row limit, always rolled back; its text and outcome go to the audit log.
//! It runs on the pool it is given, with that pool's role's rights (the console's runtime
//! role), never a more privileged one.

use std::time::{Duration, Instant};

use sqlx::{Column, PgPool, Row};

#[derive(Clone, Debug)]
pub struct ConsoleLimits {
    pub statement_timeout: Duration,
    pub max_rows: usize,
    /// Longest statement accepted.
    pub max_sql_bytes: usize,
    /// Longest value returned (longer ones are cut).
    pub max_cell_chars: usize,
}

impl Default for ConsoleLimits {
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(5),
            max_rows: 1000,
            max_sql_bytes: 20_000,
            max_cell_chars: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SqlConsoleError {
    #[error("type a statement to run")]
    Empty,
    #[error("the statement is {0} bytes; the console takes at most {1}")]
    TooLong(usize, usize),
    #[error(
        "only SELECT, WITH, VALUES, TABLE, EXPLAIN and SHOW run here (this starts with {0}); the console is read-only"
    )]
    NotReadOnly(String),
    #[error("the statement ran past the console's timeout of {0} ms and was cancelled")]
    Timeout(u128),
    #[error("refused in the read-only transaction: {0}")]
    ReadOnly(String),
    #[error("PostgreSQL: {0}")]
    Statement(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

/// What the statement is, by its first keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind {
    /// SELECT, WITH, VALUES, TABLE: rows, wrapped for the row limit.
    Query,
    /// EXPLAIN and SHOW: their own text output.
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Run,
    /// Show the plan (`EXPLAIN`) instead of the rows.
    Explain,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows than the limit were there.
    pub truncated: bool,
    pub elapsed_ms: u64,
}

/// The statement without comments, surrounding space and trailing semicolons.
pub fn normalise(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    // Leading comments only: comments inside are PostgreSQL's business.
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    out.push_str(rest.trim_end().trim_end_matches(';').trim_end());
    out
}

/// Refuses anything but a read statement, before PostgreSQL's read-only transaction does.
pub fn classify(
    sql: &str,
    limits: &ConsoleLimits,
) -> Result<(String, StatementKind), SqlConsoleError> {
    if sql.len() > limits.max_sql_bytes {
        return Err(SqlConsoleError::TooLong(sql.len(), limits.max_sql_bytes));
    }
    let sql = normalise(sql);
    let first: String = sql
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if sql.is_empty() {
        return Err(SqlConsoleError::Empty);
    }
    let kind = match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" => StatementKind::Query,
        "EXPLAIN" | "SHOW" => StatementKind::Plain,
        "" => return Err(SqlConsoleError::NotReadOnly(sql.chars().take(10).collect())),
        _ => return Err(SqlConsoleError::NotReadOnly(first)),
    };
    Ok((sql, kind))
}

fn statement_error(e: sqlx::Error, limits: &ConsoleLimits) -> SqlConsoleError {
    if let sqlx::Error::Database(db) = &e {
        return match db.code().as_deref() {
            Some("57014") => SqlConsoleError::Timeout(limits.statement_timeout.as_millis()),
            Some("25006") => SqlConsoleError::ReadOnly(db.message().to_owned()),
            _ => SqlConsoleError::Statement(db.message().to_owned()),
        };
    }
    SqlConsoleError::Database(e)
}

/// Runs one read statement and rolls back.
pub async fn run(
    pool: &PgPool,
    sql: &str,
    mode: Mode,
    limits: &ConsoleLimits,
) -> Result<QueryResult, SqlConsoleError> {
    let (sql, kind) = classify(sql, limits)?;
    let started = Instant::now();
    let mut tx = pool.begin().await.map_err(SqlConsoleError::Database)?;
    let setup = format!(
        "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {}",
        limits.statement_timeout.as_millis(),
        limits.statement_timeout.as_millis(),
        limits.statement_timeout.as_millis() * 2
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut *tx)
        .await
        .map_err(SqlConsoleError::Database)?;
    let limit = limits.max_rows + 1;
    let cell = limits.max_cell_chars;
    let mut result = QueryResult::default();
    match (kind, mode) {
        (StatementKind::Query, Mode::Run) => {
            let wrapped = format!(
                "SELECT ARRAY(SELECT e.key FROM json_each_text(q.j) WITH ORDINALITY e(key, value, n) ORDER BY e.n) AS keys,
                        ARRAY(SELECT left(e.value, {cell}) FROM json_each_text(q.j) WITH ORDINALITY e(key, value, n) ORDER BY e.n) AS vals
                 FROM (SELECT row_to_json(s) AS j FROM ({sql}\n) s LIMIT {limit}) q"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(wrapped))
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| statement_error(e, limits))?;
            for row in rows {
                if result.columns.is_empty() {
                    result.columns = row.try_get("keys").map_err(SqlConsoleError::Database)?;
                }
                let vals: Vec<Option<String>> =
                    row.try_get("vals").map_err(SqlConsoleError::Database)?;
                result.rows.push(vals);
            }
        }
        _ => {
            let text = if mode == Mode::Explain && kind == StatementKind::Query {
                format!("EXPLAIN {sql}")
            } else {
                sql
            };
            let rows = sqlx::query(sqlx::AssertSqlSafe(text))
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| statement_error(e, limits))?;
            for row in rows.into_iter().take(limit) {
                if result.columns.is_empty() {
                    result.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                let value: Option<String> = row.try_get(0).map_err(SqlConsoleError::Database)?;
                result
                    .rows
                    .push(vec![value.map(|v| v.chars().take(cell).collect())]);
            }
        }
    }
    let _ = tx.rollback().await;
    result.truncated = result.rows.len() > limits.max_rows;
    result.rows.truncate(limits.max_rows);
    result.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(result)
}

/// The result as CSV (RFC 4180): a header line, then one line per row; NULL is empty.
pub fn to_csv(result: &QueryResult) -> String {
    fn field(out: &mut String, text: &str) {
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    }
    let mut out = String::new();
    for (i, c) in result.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(&mut out, c);
    }
    out.push_str("\r\n");
    for row in &result.rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, v.as_deref().unwrap_or(""));
        }
        out.push_str("\r\n");
    }
    out
}

/// The audit record of one console statement.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub ip: Option<std::net::IpAddr>,
    pub sql: &'a str,
    pub mode: Mode,
    pub outcome: &'a Result<QueryResult, SqlConsoleError>,
}

/// Writes the statement and its outcome to `javari_audit_log` (action `schema.sql_query`).
pub async fn audit(pool: &PgPool, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    #[derive(serde::Serialize)]
    struct Details<'a> {
        sql: &'a str,
        explain: bool,
        ok: bool,
        rows: Option<usize>,
        truncated: Option<bool>,
        error: Option<String>,
        elapsed_ms: Option<u64>,
    }
    let details = Details {
        sql: entry.sql,
        explain: entry.mode == Mode::Explain,
        ok: entry.outcome.is_ok(),
        rows: entry.outcome.as_ref().ok().map(|r| r.rows.len()),
        truncated: entry.outcome.as_ref().ok().map(|r| r.truncated),
        error: entry.outcome.as_ref().err().map(|e| e.to_string()),
        elapsed_ms: entry.outcome.as_ref().ok().map(|r| r.elapsed_ms),
    };
    sqlx::query(
        "INSERT INTO javari_audit_log (actor, action, resource_type, resource_id, details, ip)
         VALUES ($1, 'schema.sql_query', 'database', current_database(), $2, $3::inet)",
    )
    .bind(entry.actor)
    .bind(sqlx::types::Json(details))
    .bind(entry.ip.map(|ip| ip.to_string()))
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_statements_pass() {
        let limits = ConsoleLimits::default();
        for ok in [
            "select 1",
            "  -- note\n WITH x AS (SELECT 1) SELECT * FROM x;",
            "/* c */ explain select 1",
            "SHOW work_mem",
            "values (1)",
            "TABLE javari_users",
        ] {
            assert!(classify(ok, &limits).is_ok(), "{ok}");
        }
        for bad in [
            "delete from t",
            "UPDATE t SET a=1",
            "drop table t",
            "set role postgres",
            "begin",
            "copy t to stdout",
            "(select 1)",
        ] {
            assert!(
                matches!(classify(bad, &limits), Err(SqlConsoleError::NotReadOnly(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            classify(" ;", &limits),
            Err(SqlConsoleError::Empty)
        ));
        let long = "select 1 ".repeat(5000);
        assert!(matches!(
            classify(&long, &limits),
            Err(SqlConsoleError::TooLong(..))
        ));
        assert_eq!(normalise("select 1 ;; "), "select 1");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let r = QueryResult {
            columns: vec!["a".into(), "b,c".into()],
            rows: vec![
                vec![Some("x\"y".into()), None],
                vec![Some("1\n2".into()), Some("z".into())],
            ],
            ..QueryResult::default()
        };
        assert_eq!(to_csv(&r), "a,\"b,c\"\r\n\"x\"\"y\",\r\n\"1\n2\",z\r\n");
    }
}
