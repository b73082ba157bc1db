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

/// The login role the binaries run as in tests and `make run`: a member of `javari_runtime`
/// (the migrations grant that role what the binaries need), not the tables' owner, not a
/// superuser, without BYPASSRLS.
pub const RUNTIME_LOGIN: &str = "javari_app";

/// Creates `javari_runtime` (NOLOGIN) and the login role [`RUNTIME_LOGIN`] in it, if missing,
/// over `conn` (a superuser's). Safe to run from many tests at once.
pub async fn ensure_runtime_role(conn: &mut PgConnection) -> Result<()> {
    let sql = format!(
        "DO $$
         BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'javari_runtime') THEN
                 BEGIN
                     CREATE ROLE javari_runtime NOLOGIN NOSUPERUSER NOBYPASSRLS;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END;
             END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_LOGIN}') THEN
                 BEGIN
                     CREATE ROLE {RUNTIME_LOGIN} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
                         IN ROLE javari_runtime;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END;
             END IF;
         END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(|e| Error::Command {
            command: format!("create the roles javari_runtime and {RUNTIME_LOGIN}"),
            output: e.to_string(),
        })?;
    Ok(())
}

/// The runtime role's URL of the database `owner_url` names (same server and database),
/// creating the roles first. Trust authentication on the test server: no password.
pub async fn runtime_url(owner_url: &str) -> Result<String> {
    let options: PgConnectOptions = owner_url.parse().map_err(|e: sqlx::Error| Error::Command {
        command: "parse a PostgreSQL URL".into(),
        output: e.to_string(),
    })?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| Error::Command {
            command: format!("connect to {}:{}", options.get_host(), options.get_port()),
            output: e.to_string(),
        })?;
    ensure_runtime_role(&mut conn).await?;
    let _ = conn.close().await;
    Ok(format!(
        "postgres://{RUNTIME_LOGIN}@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    ))
}

/// A pool on `owner`'s database as the runtime role: what the binaries see. Tests keep the
/// owner's pool for fixtures and for looking at every row.
pub async fn runtime_pool(owner: &sqlx::PgPool) -> Result<sqlx::PgPool> {
    let mut conn = owner.acquire().await.map_err(|e| Error::Command {
        command: "acquire a connection".into(),
        output: e.to_string(),
    })?;
    ensure_runtime_role(&mut conn).await?;
    drop(conn);
    let options = owner
        .connect_options()
        .as_ref()
        .clone()
        .username(RUNTIME_LOGIN);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await
        .map_err(|e| Error::Command {
            command: format!("connect as {RUNTIME_LOGIN}"),
            output: e.to_string(),
        })
}
