//! Drift: the live schema against what the migrations produce. The migrations are applied to
//! a scratch database (created and dropped here, so the role needs CREATEDB), both are
//! introspected, and every difference is a finding naming the object.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use super::health::{Category, Check, Finding, Level};
use super::introspect::{Scope, introspect};
use super::model::{Catalog, Table};

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("cannot create the scratch database for the migrations (the role needs CREATEDB): {0}")]
    Scratch(sqlx::Error),
    #[error("applying the migrations to the scratch database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where drift is computed from: the migrations, and a server role allowed to create the
/// scratch database they are applied to (the schema's owner, `JAVARI_MIGRATE_DATABASE_URL`).
#[derive(Clone)]
pub struct DriftSource {
    pub migrator: &'static sqlx::migrate::Migrator,
    /// Connection options of the server (their database is where CREATE DATABASE runs).
    server: PgConnectOptions,
}

impl DriftSource {
    pub fn new(migrator: &'static sqlx::migrate::Migrator, server: PgConnectOptions) -> Self {
        Self { migrator, server }
    }

    /// Drift of the database `pool` is connected to, with the scratch database next to it.
    pub fn beside(migrator: &'static sqlx::migrate::Migrator, pool: &PgPool) -> Self {
        Self::new(migrator, pool.connect_options().as_ref().clone())
    }

    /// Identifies what the expected catalog depends on: the server, the role creating the
    /// scratch database, and the migrations.
    fn cache_key(&self) -> String {
        let checksums: Vec<String> = self
            .migrator
            .iter()
            .map(|m| format!("{}:{}", m.version, hex::encode(&m.checksum)))
            .collect();
        format!(
            "{}@{}:{}|{}",
            self.server.get_username(),
            self.server.get_host(),
            self.server.get_port(),
            checksums.join(",")
        )
    }
}

/// The options hold a password: never printed.
impl std::fmt::Debug for DriftSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftSource")
            .field("migrations", &self.migrator.iter().count())
            .finish_non_exhaustive()
    }
}

/// What the migrations produce, per server and set of migrations: the migrations are
/// embedded in the binary, so the answer does not change while the process runs.
static EXPECTED: Mutex<Option<HashMap<String, Arc<Catalog>>>> = Mutex::new(None);
/// One scratch database at a time per process (two scans would both build it).
static BUILDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cached(key: &str) -> Option<Arc<Catalog>> {
    EXPECTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(key).cloned())
}

/// What the migrations produce, built once per process (see [`expected_catalog`]).
pub async fn expected(source: &DriftSource) -> Result<Arc<Catalog>, DriftError> {
    let key = source.cache_key();
    if let Some(c) = cached(&key) {
        return Ok(c);
    }
    let _building = BUILDING.lock().await;
    if let Some(c) = cached(&key) {
        return Ok(c);
    }
    let catalog = Arc::new(expected_catalog(&source.server, source.migrator).await?);
    EXPECTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, catalog.clone());
    Ok(catalog)
}

/// What the migrations produce: applied to a new database on `server`, introspected, then
/// dropped.
pub async fn expected_catalog(
    server: &PgConnectOptions,
    migrator: &sqlx::migrate::Migrator,
) -> Result<Catalog, DriftError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| DriftError::Scratch(sqlx::Error::Io(e.into())))?;
    let name = format!("javari_drift_{}", hex::encode(bytes));
    let mut admin = server.connect().await.map_err(DriftError::Scratch)?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .map_err(DriftError::Scratch)?;
    let options = server.clone().database(&name);
    let result = async {
        let scratch = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let outcome = async {
            migrator.run(&scratch).await?;
            Ok::<_, DriftError>(introspect(&scratch, &Scope::All).await?)
        }
        .await;
        scratch.close().await;
        outcome
    }
    .await;
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if let Err(e) = dropped {
        tracing::warn!(database = %name, error = %e, "cannot drop the drift scratch database");
    }
    let _ = admin.close().await;
    result
}

/// The drift of `pool`'s database from `migrator`'s schema (scratch database on the same
/// server, as `pool`'s role).
pub async fn check(
    pool: &PgPool,
    migrator: &'static sqlx::migrate::Migrator,
) -> Result<Vec<Finding>, DriftError> {
    let expected = expected(&DriftSource::beside(migrator, pool)).await?;
    let live = introspect(pool, &Scope::All).await?;
    Ok(diff(&expected, &live))
}

fn finding(object: String, description: String, remediation: &str) -> Finding {
    Finding::new(
        Check::Drift,
        Level::Warn,
        Category::Maintainability,
        object,
        description,
        remediation.to_owned(),
    )
}

const BY_HAND: &str = "Write a migration that makes the change (so every environment gets it), or undo the hand-made change.";
const MISSING: &str =
    "Apply the pending migrations, or recreate the object as its migration defines it.";

/// Every difference between what the migrations give (`expected`) and `live`.
pub fn diff(expected: &Catalog, live: &Catalog) -> Vec<Finding> {
    let mut out = Vec::new();
    let exp: BTreeMap<String, &Table> = expected
        .tables
        .iter()
        .map(|t| (t.at.qualified(), t))
        .collect();
    let liv: BTreeMap<String, &Table> = live.tables.iter().map(|t| (t.at.qualified(), t)).collect();
    for (name, l) in &liv {
        let Some(e) = exp.get(name) else {
            out.push(finding(
                format!("table {name}"),
                format!("Table {name} exists in the database but no migration creates it."),
                BY_HAND,
            ));
            continue;
        };
        table_diff(name, e, l, &mut out);
    }
    for name in exp.keys() {
        if !liv.contains_key(name) {
            out.push(finding(
                format!("table {name}"),
                format!("Table {name} is created by the migrations but missing from the database."),
                MISSING,
            ));
        }
    }
    let ef: BTreeMap<String, _> = expected
        .functions
        .iter()
        .map(|f| (f.signature(), f))
        .collect();
    let lf: BTreeMap<String, _> = live.functions.iter().map(|f| (f.signature(), f)).collect();
    for (sig, lfun) in &lf {
        match ef.get(sig) {
            None => out.push(finding(
                format!("function {sig}"),
                format!("Function {sig} exists in the database but no migration creates it."),
                BY_HAND,
            )),
            Some(efun) if efun != lfun => out.push(finding(
                format!("function {sig}"),
                format!(
                    "Function {sig} differs from the migrations (security definer or search_path)."
                ),
                BY_HAND,
            )),
            Some(_) => {}
        }
    }
    for sig in ef.keys() {
        if !lf.contains_key(sig) {
            out.push(finding(
                format!("function {sig}"),
                format!(
                    "Function {sig} is created by the migrations but missing from the database."
                ),
                MISSING,
            ));
        }
    }
    out
}

fn table_diff(name: &str, e: &Table, l: &Table, out: &mut Vec<Finding>) {
    for lc in &l.columns {
        let object = format!("column {name}.{}", lc.name);
        match e.column(&lc.name) {
            None => out.push(finding(
                object,
                format!(
                    "Column {name}.{} ({}) was added by hand: no migration creates it.",
                    lc.name, lc.data_type
                ),
                BY_HAND,
            )),
            Some(ec) => {
                let mut changes = Vec::new();
                if ec.data_type != lc.data_type {
                    changes.push(format!("type {} instead of {}", lc.data_type, ec.data_type));
                }
                if ec.nullable != lc.nullable {
                    changes.push(if lc.nullable {
                        "nullable".to_owned()
                    } else {
                        "NOT NULL".to_owned()
                    });
                }
                if ec.default != lc.default {
                    changes.push(format!(
                        "default {} instead of {}",
                        lc.default.as_deref().unwrap_or("none"),
                        ec.default.as_deref().unwrap_or("none")
                    ));
                }
                if !changes.is_empty() {
                    out.push(finding(
                        object,
                        format!(
                            "Column {name}.{} differs from the migrations: {}.",
                            lc.name,
                            changes.join(", ")
                        ),
                        BY_HAND,
                    ));
                }
            }
        }
    }
    for ec in &e.columns {
        if l.column(&ec.name).is_none() {
            out.push(finding(
                format!("column {name}.{}", ec.name),
                format!(
                    "Column {name}.{} is created by the migrations but missing from the database.",
                    ec.name
                ),
                MISSING,
            ));
        }
    }
    named_diff(
        name,
        "index",
        e.indexes
            .iter()
            .map(|i| (i.name.clone(), i.definition.clone())),
        l.indexes
            .iter()
            .map(|i| (i.name.clone(), i.definition.clone())),
        out,
    );
    named_diff(
        name,
        "foreign key",
        e.foreign_keys
            .iter()
            .map(|f| (f.name.clone(), format!("{f:?}"))),
        l.foreign_keys
            .iter()
            .map(|f| (f.name.clone(), format!("{f:?}"))),
        out,
    );
    named_diff(
        name,
        "policy",
        e.policies
            .iter()
            .map(|p| (p.name.clone(), format!("{p:?}"))),
        l.policies
            .iter()
            .map(|p| (p.name.clone(), format!("{p:?}"))),
        out,
    );
    named_diff(
        name,
        "trigger",
        e.triggers
            .iter()
            .map(|t| (t.name.clone(), t.definition.clone())),
        l.triggers
            .iter()
            .map(|t| (t.name.clone(), t.definition.clone())),
        out,
    );
    if e.primary_key.as_ref().map(|k| &k.columns) != l.primary_key.as_ref().map(|k| &k.columns) {
        out.push(finding(
            format!("primary key {name}"),
            format!("The primary key of {name} differs from the migrations."),
            BY_HAND,
        ));
    }
    if (e.rls_enabled, e.rls_forced) != (l.rls_enabled, l.rls_forced) {
        out.push(finding(
            format!("row-level security {name}"),
            format!(
                "Row-level security of {name} is {} (forced: {}) but the migrations make it {} (forced: {}).",
                on(l.rls_enabled), l.rls_forced, on(e.rls_enabled), e.rls_forced
            ),
            BY_HAND,
        ));
    }
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn named_diff(
    table: &str,
    kind: &str,
    expected: impl Iterator<Item = (String, String)>,
    live: impl Iterator<Item = (String, String)>,
    out: &mut Vec<Finding>,
) {
    let e: BTreeMap<String, String> = expected.collect();
    let l: BTreeMap<String, String> = live.collect();
    for (n, def) in &l {
        let object = format!("{kind} {n} on {table}");
        match e.get(n) {
            None => out.push(finding(
                object,
                format!("The {kind} {n} on {table} was made by hand: no migration creates it."),
                BY_HAND,
            )),
            Some(d) if d != def => out.push(finding(
                object,
                format!("The {kind} {n} on {table} differs from the migrations."),
                BY_HAND,
            )),
            Some(_) => {}
        }
    }
    for n in e.keys() {
        if !l.contains_key(n) {
            out.push(finding(
                format!("{kind} {n} on {table}"),
                format!("The {kind} {n} on {table} is created by the migrations but missing from the database."),
                MISSING,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::export::tests::sample;

    #[test]
    fn a_hand_added_column_and_index_are_named() {
        let (orders, customers) = sample();
        let expected = Catalog {
            tables: vec![orders.clone(), customers.clone()],
            ..Catalog::default()
        };
        assert!(diff(&expected, &expected).is_empty());
        let mut changed = orders.clone();
        let mut extra = changed.columns[0].clone();
        extra.name = "note".into();
        extra.data_type = "text".into();
        changed.columns.push(extra);
        changed.columns[1].nullable = true;
        let live = Catalog {
            tables: vec![changed, customers],
            ..Catalog::default()
        };
        let found: Vec<String> = diff(&expected, &live)
            .into_iter()
            .map(|f| f.object)
            .collect();
        assert_eq!(
            found,
            vec![
                "column public.orders.customer_id",
                "column public.orders.note"
            ]
        );
        let missing = Catalog {
            tables: vec![orders],
            ..Catalog::default()
        };
        let found: Vec<String> = diff(&expected, &missing)
            .into_iter()
            .map(|f| f.object)
            .collect();
        assert_eq!(found, vec!["table public.customers"]);
    }
}
