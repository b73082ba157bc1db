//! Fresh databases on the shared test PostgreSQL (`DATABASE_URL`, set by `make test`).

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::{Error, Result};

/// Creates an empty database on the server `DATABASE_URL` points at and returns its URL.
/// For tests that hand a URL to a binary; in-process tests use `#[sqlx::test]` instead.
pub async fn fresh_database() -> Result<String> {
    let base = std::env::var("DATABASE_URL").map_err(|_| Error::Missing {
        what: "DATABASE_URL",
        path: "environment".into(),
        hint: "run the tests with `make test`, which starts the test PostgreSQL and sets it",
    })?;
    let options: PgConnectOptions = base.parse().map_err(|e: sqlx::Error| Error::Command {
        command: "parse DATABASE_URL".into(),
        output: e.to_string(),
    })?;
    let name = format!("javari_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| Error::Command {
            command: format!("connect to {}:{}", options.get_host(), options.get_port()),
            output: e.to_string(),
        })?;
    // The name is generated here from a UUID, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| Error::Command {
            command: format!("CREATE DATABASE {name}"),
            output: e.to_string(),
        })?;
    let _ = conn.close().await;
    Ok(format!(
        "postgres://postgres@{}:{}/{name}",
        options.get_host(),
        options.get_port()
    ))
}
