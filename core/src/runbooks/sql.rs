//! Running a `sql` step: one statement in a READ ONLY transaction with a statement timeout,
//! placeholders bound as parameters, at most `row_limit` rows, every value shown as text.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Column, Executor, PgPool, Row, SqlSafeStr};

use super::validate::{bind_placeholders, read_only_statement};

/// What a `sql` step returned, ready to show as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// More rows existed than `row_limit`.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SqlStepError {
    #[error("{0}")]
    Refused(String),
    #[error("no value for {{{{ {0} }}}}")]
    MissingValue(String),
    #[error("the query failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Runs `query` with `values` for its placeholders (looked up by name).
pub async fn run_read_only(
    pool: &PgPool,
    query: &str,
    values: &(dyn Fn(&str) -> Option<String> + Sync),
    timeout: Duration,
    row_limit: u32,
) -> Result<Table, SqlStepError> {
    read_only_statement(query).map_err(SqlStepError::Refused)?;
    let (sql, names) = bind_placeholders(query).map_err(SqlStepError::Refused)?;
    let binds = names
        .iter()
        .map(|n| values(n).ok_or_else(|| SqlStepError::MissingValue(n.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let sql = sql.trim().trim_end_matches(';').to_owned();

    let mut tx = pool.begin().await?;
    tx.execute("SET TRANSACTION READ ONLY").await?;
    // A number we computed, not input: safe to format into SET, which takes no parameters.
    let set_timeout = format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis().max(1)
    );
    tx.execute(AssertSqlSafe(set_timeout)).await?;
    // The text comes from a reviewed runbook (values are bound, never spliced) and runs in a
    // READ ONLY transaction: that is the audit `AssertSqlSafe` asks for.
    let columns: Vec<String> = tx
        .describe(AssertSqlSafe(sql.clone()).into_sql_str())
        .await?
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    // EXPLAIN and SHOW cannot be wrapped in a subquery; they return one text column.
    let wrapped = !matches!(first.as_str(), "explain" | "show");
    let limit = i64::from(row_limit) + 1;
    let rows: Vec<Vec<String>> = if wrapped {
        let outer = format!("SELECT row_to_json(q)::text FROM ({sql}) q LIMIT {limit}",);
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(outer));
        for b in &binds {
            q = q.bind(b);
        }
        q.fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|json| cells(&json, &columns))
            .collect()
    } else {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        let mut out = Vec::new();
        for row in q
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .take(limit as usize)
        {
            out.push(vec![row.try_get::<String, _>(0).unwrap_or_default()]);
        }
        out
    };
    tx.rollback().await?;
    let truncated = rows.len() > row_limit as usize;
    let mut rows = rows;
    rows.truncate(row_limit as usize);
    Ok(Table {
        columns,
        rows,
        truncated,
    })
}

fn cells(json: &str, columns: &[String]) -> Vec<String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).unwrap_or_default();
    columns
        .iter()
        .map(|c| match object.get(c) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        })
        .collect()
}
