//! The schema pages: a browser of the database's tables grouped by module (columns, keys,
//! foreign keys both ways, indexes, policies, triggers, statistics, diagrams, exports), the
//! health findings with suppressions, and the admins' read-only SQL console.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use javari_core::schema::connections::{self, ConnectionInfo};
use javari_core::schema::health::{self, HealthError, Level, NewSuppression, Report, Thresholds};
use javari_core::schema::search::{Hit, MAX_QUERY_CHARS, search_catalog};
use javari_core::schema::sql_console::{self, AuditEntry, Mode, QueryResult, SqlConsoleError};
use javari_core::schema::{Catalog, Table, TableRef, Target, diagram, export, module_of};
use javari_core::vault::SecretValue;
use serde::Deserialize;
use sqlx::PgPool;

use crate::AppState;
use crate::auth::{CurrentUser, Role, User, client_address};
use crate::error::{ApiError, PageError};
use crate::schema_targets;

fn db_error(e: sqlx::Error) -> ApiError {
    ApiError::internal("reading the schema failed", e)
}

/// `?db=`: which database the page looks at (empty: the platform's).
#[derive(Deserialize, Default)]
pub struct DbParam {
    db: Option<String>,
}

/// The target of a request and a pool on its database.
async fn target_pool(
    state: &AppState,
    current: &CurrentUser,
    db: Option<&str>,
) -> Result<(Target, PgPool), ApiError> {
    let target = schema_targets::parse(&current.user, db)?;
    let pool = schema_targets::pool(state, &target).await?;
    Ok((target, pool))
}

/// An entry of the target picker.
pub struct Choice {
    pub key: String,
    pub label: String,
    pub selected: bool,
}

/// The picker's entries for an admin (others only ever see the platform's database).
async fn choices_for(
    state: &AppState,
    current: &CurrentUser,
    target: &Target,
) -> (Vec<Choice>, String) {
    if current.user.role < Role::Admin {
        return (Vec::new(), String::new());
    }
    let (targets, note) = schema_targets::choices(state).await;
    let mut out: Vec<Choice> = targets
        .into_iter()
        .map(|t| Choice {
            selected: &t == target,
            key: t.key(),
            label: t.label(),
        })
        .collect();
    if !out.iter().any(|c| c.selected) {
        out.push(Choice {
            key: target.key(),
            label: target.label(),
            selected: true,
        });
    }
    (out, note)
}

/// The snapshot of the target's database (see `schema_cache`).
async fn snapshot(
    state: &AppState,
    target: &Target,
    pool: &PgPool,
) -> Result<Arc<Catalog>, ApiError> {
    state
        .schema_catalogs
        .get(&target.key(), pool)
        .await
        .map_err(db_error)
}

/// A table in the index page's listing.
pub struct TableSummary {
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub estimated_rows: Option<i64>,
    pub total_bytes: i64,
    pub columns: usize,
}

impl TableSummary {
    fn of(t: &Table) -> Self {
        Self {
            schema: t.at.schema.clone(),
            name: t.at.name.clone(),
            comment: t.comment.clone(),
            estimated_rows: t.stats.estimated_rows,
            total_bytes: t.stats.total_bytes,
            columns: t.columns.len(),
        }
    }

    pub fn at(&self) -> TableRef {
        TableRef::new(&self.schema, &self.name)
    }
}

/// A module with its tables, for the index page.
pub struct ModuleView {
    pub name: String,
    pub tables: Vec<TableSummary>,
    pub rows: i64,
    pub bytes: i64,
}

fn modules_of(tables: Vec<TableSummary>) -> Vec<ModuleView> {
    let mut modules: std::collections::BTreeMap<String, Vec<TableSummary>> = Default::default();
    for t in tables {
        modules.entry(module_of(&t.name)).or_default().push(t);
    }
    modules
        .into_iter()
        .map(|(name, tables)| ModuleView {
            rows: tables.iter().filter_map(|t| t.estimated_rows).sum(),
            bytes: tables.iter().map(|t| t.total_bytes).sum(),
            name,
            tables,
        })
        .collect()
}

/// Bytes as B, KiB or MiB.
pub fn size(bytes: &i64) -> String {
    let b = *bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "schema.html")]
struct IndexPage {
    user: User,
    csrf: String,
    query: String,
    hits: Vec<Hit>,
    modules: Vec<ModuleView>,
    table_count: usize,
    /// `?db=…` for the links (empty for the platform's database).
    q: String,
    db: String,
    target_label: String,
    choices: Vec<Choice>,
    choices_note: String,
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    db: Option<String>,
}

/// `GET /schema`: modules and their tables; `?q=` searches names and comments.
pub async fn index(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<SearchParams>,
) -> Result<Response, PageError> {
    let query = params.q.unwrap_or_default();
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!(
            "the search is at most {MAX_QUERY_CHARS} characters"
        ))
        .into());
    }
    let (target, pool) = target_pool(&state, &current, params.db.as_deref()).await?;
    let catalog = snapshot(&state, &target, &pool).await?;
    // A search shows its matches only; the modules are listed without one.
    let (hits, tables) = if query.trim().is_empty() {
        let mut tables: Vec<TableSummary> = catalog.tables.iter().map(TableSummary::of).collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        (Vec::new(), tables)
    } else {
        (search_catalog(&catalog, &query), Vec::new())
    };
    let (choices, choices_note) = choices_for(&state, &current, &target).await;
    Ok(IndexPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        query,
        hits,
        table_count: tables.len(),
        modules: modules_of(tables),
        q: target.query(),
        db: target.key(),
        target_label: target.label(),
        choices,
        choices_note,
    }
    .into_response())
}

/// A table of the target's snapshot.
async fn one_table(
    state: &AppState,
    target: &Target,
    pool: &PgPool,
    schema: &str,
    name: &str,
) -> Result<Table, ApiError> {
    snapshot(state, target, pool)
        .await?
        .table(schema, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&format!("table {schema}.{name}")))
}

#[derive(Template, WebTemplate)]
#[template(path = "schema_table.html")]
struct TablePage {
    user: User,
    csrf: String,
    table: Table,
    svg: String,
    bloat: String,
    q: String,
    target_label: String,
}

/// `GET /schema/tables/{schema}/{table}`.
pub async fn table_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((schema, name)): Path<(String, String)>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let table = one_table(&state, &target, &pool, &schema, &name).await?;
    let bloat = match (table.stats.bloat_bytes, table.stats.bloat_ratio()) {
        (Some(b), Some(r)) => format!("{} ({:.0}%)", size(&b), r * 100.0),
        _ => "unknown (no statistics yet: ANALYZE)".to_owned(),
    };
    let q = target.query();
    Ok(TablePage {
        svg: diagram::neighbourhood_linked(&table, &q),
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        table,
        bloat,
        q,
        target_label: target.label(),
    }
    .into_response())
}

fn download(content_type: &'static str, filename: String, body: String) -> Response {
    let disposition = if content_type.starts_with("text/csv") {
        "attachment"
    } else {
        "inline"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /schema/tables/{schema}/{table}/diagram.svg`.
pub async fn table_svg(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((schema, name)): Path<(String, String)>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let table = one_table(&state, &target, &pool, &schema, &name).await?;
    Ok(download(
        "image/svg+xml",
        format!("{name}.svg"),
        diagram::neighbourhood_linked(&table, &target.query()),
    ))
}

/// `GET /schema/tables/{schema}/{table}/export.md`.
pub async fn table_markdown(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((schema, name)): Path<(String, String)>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let table = one_table(&state, &target, &pool, &schema, &name).await?;
    Ok(download(
        "text/markdown; charset=utf-8",
        format!("{name}.md"),
        export::markdown(&format!("Table {schema}.{name}"), &[&table]),
    ))
}

/// `GET /schema/tables/{schema}/{table}/export.mmd`.
pub async fn table_mermaid(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((schema, name)): Path<(String, String)>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let table = one_table(&state, &target, &pool, &schema, &name).await?;
    Ok(download(
        "text/plain; charset=utf-8",
        format!("{name}.mmd"),
        export::mermaid(&[&table]),
    ))
}

/// The tables of a module, from the target's snapshot.
async fn module_tables(
    state: &AppState,
    target: &Target,
    pool: &PgPool,
    module: &str,
) -> Result<Vec<Table>, ApiError> {
    let mut tables: Vec<Table> = snapshot(state, target, pool)
        .await?
        .tables
        .iter()
        .filter(|t| t.module == module)
        .cloned()
        .collect();
    if tables.is_empty() {
        return Err(ApiError::not_found(&format!("module {module}")));
    }
    tables.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(tables)
}

#[derive(Template, WebTemplate)]
#[template(path = "schema_module.html")]
struct ModulePage {
    user: User,
    csrf: String,
    module: String,
    tables: Vec<Table>,
    svg: String,
    q: String,
    target_label: String,
}

/// `GET /schema/modules/{module}`.
pub async fn module_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(module): Path<String>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let tables = module_tables(&state, &target, &pool, &module).await?;
    let refs: Vec<&Table> = tables.iter().collect();
    let q = target.query();
    Ok(ModulePage {
        svg: diagram::module_linked(&module, &refs, &q),
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        module,
        tables,
        q,
        target_label: target.label(),
    }
    .into_response())
}

/// `GET /schema/modules/{module}/export.md`.
pub async fn module_markdown(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(module): Path<String>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let tables = module_tables(&state, &target, &pool, &module).await?;
    let refs: Vec<&Table> = tables.iter().collect();
    Ok(download(
        "text/markdown; charset=utf-8",
        format!("{module}.md"),
        export::markdown(&format!("Module {module}"), &refs),
    ))
}

/// `GET /schema/modules/{module}/export.mmd`.
pub async fn module_mermaid(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(module): Path<String>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let tables = module_tables(&state, &target, &pool, &module).await?;
    let refs: Vec<&Table> = tables.iter().collect();
    Ok(download(
        "text/plain; charset=utf-8",
        format!("{module}.mmd"),
        export::mermaid(&refs),
    ))
}

/// `GET /schema/modules/{module}/diagram.svg`.
pub async fn module_svg(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(module): Path<String>,
    Query(db): Query<DbParam>,
) -> Result<Response, PageError> {
    let (target, pool) = target_pool(&state, &current, db.db.as_deref()).await?;
    let tables = module_tables(&state, &target, &pool, &module).await?;
    let refs: Vec<&Table> = tables.iter().collect();
    Ok(download(
        "image/svg+xml",
        format!("{module}.svg"),
        diagram::module_linked(&module, &refs, &target.query()),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "schema_findings.html")]
struct FindingsPage {
    user: User,
    csrf: String,
    report: Report,
    errors: usize,
    warnings: usize,
    infos: usize,
    can_scan: bool,
    is_admin: bool,
    notice: String,
    default_expiry: String,
    q: String,
    db: String,
    target_label: String,
    choices: Vec<Choice>,
    choices_note: String,
    connections: Vec<ConnectionInfo>,
    new_count: usize,
    /// Open findings not listed (beyond [`SHOWN_FINDINGS`] without `?all=1`).
    hidden: usize,
}

/// Open findings the page lists without `?all=1` (errors first, then warnings, then notes).
pub const SHOWN_FINDINGS: usize = 200;

#[derive(Deserialize)]
pub struct NoticeParams {
    notice: Option<String>,
    db: Option<String>,
    /// `1`: list every open finding.
    all: Option<String>,
}

/// `GET /schema/findings`: the latest scan's open findings (new ones marked) and the
/// suppressed ones, of the chosen database.
pub async fn findings_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<NoticeParams>,
) -> Result<Response, PageError> {
    let target = schema_targets::parse(&current.user, params.db.as_deref())?;
    let now = Utc::now();
    let listed = (params.all.as_deref() != Some("1")).then_some(SHOWN_FINDINGS);
    let report = health::report_page(&state.db, &target.key(), now, listed)
        .await
        .map_err(db_error)?;
    let (errors, warnings, infos, new_count, hidden) = (
        report.count(Level::Error),
        report.count(Level::Warn),
        report.count(Level::Info),
        report.new_count(),
        report.unlisted(),
    );
    let is_admin = current.user.role >= Role::Admin;
    let (choices, choices_note) = choices_for(&state, &current, &target).await;
    let connections = if is_admin {
        connections::list(&state.db).await.map_err(db_error)?
    } else {
        Vec::new()
    };
    Ok(FindingsPage {
        errors,
        warnings,
        infos,
        new_count,
        hidden,
        report,
        can_scan: current.user.role >= Role::Operator,
        is_admin,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        notice: params.notice.unwrap_or_default(),
        default_expiry: (now + Duration::days(30)).format("%Y-%m-%d").to_string(),
        q: target.query(),
        db: target.key(),
        target_label: target.label(),
        choices,
        choices_note,
        connections,
    }
    .into_response())
}

fn health_error(e: HealthError) -> ApiError {
    match e {
        HealthError::Busy(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        HealthError::Invalid(_) => ApiError::bad_request(e.to_string()),
        HealthError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        HealthError::Database(e) => ApiError::internal("schema scan failed", e),
    }
}

/// Where a findings form returns to: the page of its database, with a notice.
fn back_to_findings(target: &Target, notice: &str) -> Redirect {
    let db = if target.is_platform() {
        String::new()
    } else {
        format!("&db={}", target.key())
    };
    Redirect::to(&format!("/schema/findings?notice={notice}{db}"))
}

#[derive(Deserialize, Default)]
pub struct ScanForm {
    #[serde(default)]
    db: Option<String>,
}

/// `POST /schema/findings/scan` (operators; admins for other databases): scans now. The
/// platform's database is also compared with the migrations (drift).
pub async fn scan_now(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<ScanForm>,
) -> Result<Redirect, PageError> {
    let db = form.db;
    let (target, pool) = target_pool(&state, &current, db.as_deref()).await?;
    tracing::info!(user = %current.user.email, target = %target.key(), "schema scan started by hand");
    let drift = if target.is_platform() {
        state.settings.schema_drift.as_ref()
    } else {
        None
    };
    health::scan(
        &state.db,
        &pool,
        &target.key(),
        "manual",
        &Thresholds::default(),
        drift,
    )
    .await
    .map_err(health_error)?;
    // The pages show what the scan saw from now on.
    state.schema_catalogs.forget(&target.key());
    Ok(back_to_findings(&target, "scanned"))
}

#[derive(Deserialize)]
pub struct SuppressForm {
    key: String,
    reason: String,
    owner: String,
    /// `YYYY-MM-DD`: the suppression ends at the start of that day (UTC).
    expires: String,
    #[serde(default)]
    db: Option<String>,
}

/// `POST /schema/findings/suppress` (admins).
pub async fn suppress(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<SuppressForm>,
) -> Result<Redirect, PageError> {
    let target = schema_targets::parse(&current.user, form.db.as_deref())?;
    let day = NaiveDate::parse_from_str(form.expires.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("the expiry is a date, YYYY-MM-DD"))?;
    let expires_at: DateTime<Utc> = day
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .ok_or_else(|| ApiError::bad_request("the expiry is a date, YYYY-MM-DD"))?;
    let key = target.key();
    health::suppress(
        &state.db,
        &NewSuppression {
            target: &key,
            key: &form.key,
            reason: &form.reason,
            owner: &form.owner,
            expires_at,
            created_by: &current.user.email,
        },
        Utc::now(),
    )
    .await
    .map_err(health_error)?;
    tracing::info!(user = %current.user.email, target = %key, key = %form.key, "schema finding suppressed");
    Ok(back_to_findings(&target, "suppressed"))
}

#[derive(Deserialize)]
pub struct UnsuppressForm {
    key: String,
    #[serde(default)]
    db: Option<String>,
}

/// `POST /schema/findings/unsuppress` (admins).
pub async fn unsuppress(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<UnsuppressForm>,
) -> Result<Redirect, PageError> {
    let target = schema_targets::parse(&current.user, form.db.as_deref())?;
    health::unsuppress(&state.db, &target.key(), &form.key)
        .await
        .map_err(health_error)?;
    tracing::info!(user = %current.user.email, target = %target.key(), key = %form.key, "schema suppression removed");
    Ok(back_to_findings(&target, "unsuppressed"))
}

#[derive(Deserialize)]
pub struct ConnectionForm {
    name: String,
    /// The `postgres://` URL: sealed, never shown back or logged.
    url: String,
}

/// `POST /schema/connections` (admins): configures (or replaces) a connection to another
/// database; its URL is sealed under the master key.
pub async fn save_connection(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<ConnectionForm>,
) -> Result<Redirect, PageError> {
    let name = form.name.trim().to_owned();
    let url = SecretValue::new(form.url.into_bytes());
    connections::save(
        &state.db,
        state.auth.keys(),
        &name,
        &url,
        &current.user.email,
    )
    .await
    .map_err(schema_targets::connection_error)?;
    let target = Target::Connection { name };
    state.schema_pools.forget(&target.key());
    state.schema_catalogs.forget(&target.key());
    tracing::info!(user = %current.user.email, target = %target.key(), "schema connection saved");
    Ok(back_to_findings(&target, "connection-saved"))
}

#[derive(Deserialize)]
pub struct ConnectionNameForm {
    name: String,
}

/// `POST /schema/connections/delete` (admins).
pub async fn delete_connection(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<ConnectionNameForm>,
) -> Result<Redirect, PageError> {
    connections::delete(&state.db, form.name.trim())
        .await
        .map_err(schema_targets::connection_error)?;
    let target = Target::Connection {
        name: form.name.trim().to_owned(),
    };
    state.schema_pools.forget(&target.key());
    state.schema_catalogs.forget(&target.key());
    tracing::info!(user = %current.user.email, target = %target.key(), "schema connection removed");
    Ok(back_to_findings(&Target::Platform, "connection-removed"))
}

#[derive(Template, WebTemplate)]
#[template(path = "schema_sql.html")]
struct SqlPage {
    user: User,
    csrf: String,
    sql: String,
    explain: bool,
    result: Option<QueryResult>,
    error: String,
    timeout_ms: u128,
    max_rows: usize,
    /// The SQL console reads the platform's database only.
    q: String,
    target_label: String,
}

#[derive(Deserialize)]
pub struct SqlForm {
    #[serde(default)]
    sql: String,
    explain: Option<String>,
}

/// `GET /schema/sql` (admins).
pub async fn sql_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    let limits = &state.settings.sql_console;
    Ok(SqlPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        sql: String::new(),
        explain: false,
        result: None,
        error: String::new(),
        timeout_ms: limits.statement_timeout.as_millis(),
        max_rows: limits.max_rows,
        q: String::new(),
        target_label: Target::Platform.label(),
    }
    .into_response())
}

fn sql_error_status(e: &SqlConsoleError) -> StatusCode {
    match e {
        SqlConsoleError::TooLong(..) => StatusCode::PAYLOAD_TOO_LARGE,
        SqlConsoleError::NotReadOnly(_) | SqlConsoleError::ReadOnly(_) => StatusCode::FORBIDDEN,
        SqlConsoleError::Timeout(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SqlConsoleError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        SqlConsoleError::Empty | SqlConsoleError::Statement(_) => StatusCode::BAD_REQUEST,
    }
}

/// Runs the statement and writes it to the audit log, whatever the outcome.
async fn run_audited(
    state: &AppState,
    current: &CurrentUser,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    form: &SqlForm,
) -> Result<Result<QueryResult, SqlConsoleError>, ApiError> {
    let mode = if form.explain.is_some() {
        Mode::Explain
    } else {
        Mode::Run
    };
    let limits = &state.settings.sql_console;
    let outcome = sql_console::run(&state.db, &form.sql, mode, limits).await;
    if let Err(SqlConsoleError::Database(e)) = &outcome {
        tracing::error!(error = %e, "SQL console database error");
    }
    let ip = peer.map(|p| client_address(p.ip(), headers, &state.auth.settings.trusted_proxies));
    let sql: String = form.sql.chars().take(limits.max_sql_bytes).collect();
    sql_console::audit(
        &state.db,
        &AuditEntry {
            actor: &current.user.email,
            ip,
            sql: &sql,
            mode,
            outcome: &outcome,
        },
    )
    .await
    .map_err(|e| {
        ApiError::internal(
            "cannot write the audit log; the query result is withheld",
            e,
        )
    })?;
    Ok(outcome)
}

/// `POST /schema/sql` (admins): runs one read statement.
pub async fn sql_run(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<SqlForm>,
) -> Result<Response, PageError> {
    let outcome = run_audited(&state, &current, peer.map(|p| p.0.0), &headers, &form).await?;
    let limits = &state.settings.sql_console;
    let (status, result, error) = match outcome {
        Ok(r) => (StatusCode::OK, Some(r), String::new()),
        Err(e) => (sql_error_status(&e), None, e.to_string()),
    };
    let page = SqlPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        explain: form.explain.is_some(),
        sql: form.sql,
        result,
        error,
        timeout_ms: limits.statement_timeout.as_millis(),
        max_rows: limits.max_rows,
        q: String::new(),
        target_label: Target::Platform.label(),
    };
    Ok((status, page).into_response())
}

/// `POST /schema/sql.csv` (admins): the same, answered as CSV.
pub async fn sql_csv(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<SqlForm>,
) -> Result<Response, PageError> {
    match run_audited(&state, &current, peer.map(|p| p.0.0), &headers, &form).await? {
        Ok(r) => Ok(download(
            "text/csv; charset=utf-8",
            "query.csv".to_owned(),
            sql_console::to_csv(&r),
        )),
        Err(e) => Err(ApiError::new(sql_error_status(&e), e.to_string()).into()),
    }
}
