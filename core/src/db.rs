//! PostgreSQL access: the connection pool and the shared schema's migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The shared schema (`migrations/`), embedded in both binaries.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool. The error names host, port and database, never the password.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    let options =
        options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect { target, source })
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx holds an
/// advisory lock while migrating, and applied migrations are skipped.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The group role the binaries' login role belongs to (created by the migrations): not the
/// tables' owner, not a superuser, without BYPASSRLS, so row-level security binds it.
pub const RUNTIME_ROLE: &str = "javari_runtime";

/// On whose behalf a transaction runs, for the row-level security policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Sees and writes only this user's rows (`javari.user_id`).
    User(Uuid),
    /// An admin on a page that lists everyone's rows: their own rows as a user, plus what the
    /// `*_admin` policies open (`javari.role = 'admin'`). Only for callers checked to be admins.
    Admin(Uuid),
}

impl Actor {
    pub fn user_id(self) -> Uuid {
        match self {
            Actor::User(id) | Actor::Admin(id) => id,
        }
    }
}

/// Sets the actor for the rest of the current transaction (`set_config(..., true)`).
pub async fn act_as(conn: &mut PgConnection, actor: Actor) -> Result<(), sqlx::Error> {
    let role = match actor {
        Actor::User(_) => "",
        Actor::Admin(_) => crate::roles::Role::Admin.as_str(),
    };
    sqlx::query(
        "SELECT set_config('javari.user_id', $1, true), set_config('javari.role', $2, true)",
    )
    .bind(actor.user_id().to_string())
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// A transaction on behalf of `actor`: every statement in it sees and writes only what the
/// policies give that actor. Dropped without commit, it rolls back.
pub async fn begin(
    pool: &PgPool,
    actor: Actor,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    act_as(&mut tx, actor).await?;
    Ok(tx)
}

/// [`begin`] as the user `user_id`: the one way user-owned rows are read and written.
pub async fn begin_as(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin(pool, Actor::User(user_id)).await
}

/// Who the pool's connections run as, and whether row-level security binds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeIdentity {
    pub role: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    /// The role owns the tables (or is a member of their owner): FORCE still binds it, but it
    /// may turn row-level security off.
    pub owns_tables: bool,
}

impl RuntimeIdentity {
    /// Row-level security binds this role and it cannot turn it off.
    pub fn enforced(&self) -> bool {
        !self.superuser && !self.bypass_rls && !self.owns_tables
    }
}

/// Reads who the pool connects as (logged at start: a warning when RLS does not bind it).
pub async fn runtime_identity(pool: &PgPool) -> Result<RuntimeIdentity, sqlx::Error> {
    let (role, superuser, bypass_rls, owns_tables): (String, bool, bool, bool) = sqlx::query_as(
        "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
                coalesce(pg_has_role(current_user, c.relowner, 'MEMBER'), false)
         FROM pg_roles r
         LEFT JOIN pg_class c ON c.oid = to_regclass('javari_conversations')
         WHERE r.rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    Ok(RuntimeIdentity {
        role,
        superuser,
        bypass_rls,
        owns_tables,
    })
}

/// Opens the runtime pool (`runtime_url`, the role the binaries query as) after applying the
/// migrations as the schema's owner (`migrate_url`, a connection used for that alone and
/// closed). Without `migrate_url` the migrations run over `runtime_url` (one role for both:
/// row-level security then does not bind it, and a warning says so).
pub async fn open(
    runtime_url: &str,
    migrate_url: Option<&str>,
    max_connections: u32,
) -> Result<PgPool, DbError> {
    let pool = match migrate_url.filter(|u| !u.is_empty()) {
        Some(owner_url) => {
            let owner = connect(owner_url, 1).await?;
            let migrated = migrate(&owner).await;
            owner.close().await;
            migrated?;
            connect(runtime_url, max_connections).await?
        }
        None => {
            let pool = connect(runtime_url, max_connections).await?;
            migrate(&pool).await?;
            pool
        }
    };
    match runtime_identity(&pool).await {
        Ok(who) if who.enforced() => {
            tracing::info!(role = %who.role, "queries run as a role bound by row-level security")
        }
        Ok(who) => tracing::warn!(
            role = %who.role,
            superuser = who.superuser,
            bypass_rls = who.bypass_rls,
            owns_tables = who.owns_tables,
            "DATABASE_URL's role is not bound by row-level security: give the binaries a role in \
             javari_runtime and the owner's URL in JAVARI_MIGRATE_DATABASE_URL"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot read the database role"),
    }
    Ok(pool)
}
