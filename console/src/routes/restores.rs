//! Restores from the Backups page and `/api/backups/...` (admins; forms carry the CSRF token,
//! every action is written to the audit log). Into a new database by default, at once; in
//! place only after a second admin approved the request before it expired. The work runs in
//! the background under `max_concurrent_restores` slots; its row says how it ended.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use javari_core::backups::{
    BackupError, DecisionError, Destination, RestoreMode, RestoreRequest, StoreConfig,
    database_exists, decide, get_backup, get_restore, list_restores, record_new_restore,
    request_in_place, restore_in_place, run_new_restore,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, User};
use crate::error::{ApiError, PageError};

/// Restores listed by the API and the page.
pub const RESTORES_SHOWN: i64 = 50;

/// Where a restore goes: a new database (the default) or over an existing one.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestoreModeInput {
    #[default]
    New,
    InPlace,
}

/// `POST /api/backups/{id}/restore`.
#[derive(Deserialize, Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreInput {
    /// For `new`: the database to create (lowercase letters, digits and `_`, at most 63; it
    /// must not exist). For `in_place`: the existing database to replace.
    pub database: String,
    #[serde(default)]
    pub mode: RestoreModeInput,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RestoreBody {
    pub restore: RestoreRequest,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RestoreList {
    pub restores: Vec<RestoreRequest>,
}

/// What the audit log records of a restore action.
#[derive(Serialize)]
struct RestoreAudit<'a> {
    backup_id: Uuid,
    database: &'a str,
    mode: RestoreMode,
    via: &'static str,
}

async fn audit(
    state: &AppState,
    actor: &User,
    action: &str,
    r: &RestoreRequest,
    via: &'static str,
) -> Result<(), ApiError> {
    let details = serde_json::to_value(RestoreAudit {
        backup_id: r.backup_id,
        database: &r.target_database,
        mode: r.mode,
        via,
    })
    .map_err(|e| ApiError::internal("audit", e))?;
    sqlx::query(
        "INSERT INTO javari_audit_log (actor, action, resource_type, resource_id, details) \
         VALUES ($1, $2, 'BackupRestore', $3, $4)",
    )
    .bind(&actor.email)
    .bind(action)
    .bind(r.id.to_string())
    .bind(details)
    .execute(&state.db)
    .await?;
    Ok(())
}

fn backup_error(e: BackupError) -> ApiError {
    match e {
        BackupError::BadDatabaseName(_) | BackupError::CatalogDatabase(_) => {
            ApiError::bad_request(e.to_string())
        }
        BackupError::TargetExists { .. } | BackupError::Incomplete { .. } => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        BackupError::Destination { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        e => ApiError::internal("restore", e),
    }
}

fn decision_error(e: DecisionError) -> ApiError {
    match e {
        DecisionError::NotFound(_) => ApiError::not_found("restore request"),
        DecisionError::NotInPlace => ApiError::bad_request(e.to_string()),
        DecisionError::SelfApproval(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
        DecisionError::Expired(_)
        | DecisionError::NotPending(_)
        | DecisionError::NotApproved(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        DecisionError::Backup(e) => backup_error(e),
    }
}

/// What a restore needs from the console's configuration, checked before anything starts.
struct Ready {
    server: String,
    keys: javari_core::vault::Vault,
    permit: OwnedSemaphorePermit,
}

fn ready(state: &AppState) -> Result<Ready, ApiError> {
    let unavailable = |m: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m);
    let server = state
        .settings
        .backups
        .restore_server_url
        .clone()
        .ok_or_else(|| {
            unavailable("restores are not configured: set JAVARI_RESTORE_DATABASE_URL")
        })?;
    let keys = state.vault.clone().ok_or_else(|| {
        unavailable("restores need the vault's master key to open backups: set JAVARI_MASTER_KEY")
    })?;
    let permit = state.restores.clone().try_acquire_owned().map_err(|_| {
        unavailable("the restore slots are all in use; try again when a restore has finished")
    })?;
    Ok(Ready {
        server,
        keys,
        permit,
    })
}

/// The store a backup was written to. The console never reads Secrets, so a store that needs
/// access keys is refused with the reason.
async fn destination(state: &AppState, backup: Uuid) -> Result<Destination, ApiError> {
    let row = get_backup(&state.db, backup)
        .await?
        .ok_or_else(|| ApiError::not_found("backup"))?;
    let url = row.store_url.clone().unwrap_or_default();
    if !url.starts_with("file://") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this backup is in an object store whose access keys only the operator reads; the console restores backups of file:// destinations",
        ));
    }
    Destination::open(&StoreConfig {
        url,
        endpoint: None,
        region: None,
        keys: None,
    })
    .map_err(backup_error)
}

/// Starts a restore into a new database, or records an in-place request.
async fn start(
    state: &AppState,
    admin: &User,
    backup: Uuid,
    input: &RestoreInput,
    via: &'static str,
) -> Result<(StatusCode, RestoreRequest), ApiError> {
    let database = input.database.trim();
    // What the request says is checked first (400, 404, 422), then what the console has.
    if !javari_core::backups::valid_database_name(database) {
        return Err(backup_error(BackupError::BadDatabaseName(
            database.to_owned(),
        )));
    }
    let dest = destination(state, backup).await?;
    match input.mode {
        RestoreModeInput::New => {
            let ready = ready(state)?;
            if database_exists(&ready.server, database)
                .await
                .map_err(backup_error)?
            {
                return Err(backup_error(BackupError::TargetExists {
                    database: database.to_owned(),
                }));
            }
            let r = record_new_restore(&state.db, backup, database, &admin.email)
                .await
                .map_err(backup_error)?;
            audit(state, admin, "backup.restore", &r, via).await?;
            let (db, settings, request) = (state.db.clone(), state.settings.clone(), r.clone());
            tokio::spawn(async move {
                let Ready {
                    server,
                    keys,
                    permit,
                } = ready;
                let b = &settings.backups;
                if let Err(e) = run_new_restore(
                    &db,
                    &dest,
                    keys.keys(),
                    &request,
                    &server,
                    b.jobs,
                    &b.staging_dir,
                )
                .await
                {
                    tracing::warn!(restore = %request.id, error = %e, "restore failed");
                }
                drop(permit);
            });
            Ok((StatusCode::ACCEPTED, r))
        }
        RestoreModeInput::InPlace => {
            let server = state
                .settings
                .backups
                .restore_server_url
                .clone()
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "restores are not configured: set JAVARI_RESTORE_DATABASE_URL",
                    )
                })?;
            drop(dest);
            if !database_exists(&server, database)
                .await
                .map_err(backup_error)?
            {
                return Err(ApiError::bad_request(format!(
                    "database {database} does not exist on the restore server: restore into a new database instead"
                )));
            }
            let r = request_in_place(
                &state.db,
                backup,
                database,
                &admin.email,
                state.settings.backups.approval_ttl,
            )
            .await
            .map_err(backup_error)?;
            audit(state, admin, "backup.restore.request", &r, via).await?;
            Ok((StatusCode::CREATED, r))
        }
    }
}

/// A second admin approves (the restore then runs) or declines an in-place request.
async fn decide_request(
    state: &AppState,
    admin: &User,
    id: Uuid,
    approve: bool,
    via: &'static str,
) -> Result<RestoreRequest, ApiError> {
    let current = get_restore(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("restore request"))?;
    let dest = if approve {
        Some(destination(state, current.backup_id).await?)
    } else {
        None
    };
    let ready = if approve { Some(ready(state)?) } else { None };
    let decided = match decide(&state.db, id, &admin.email, approve).await {
        Ok(r) => r,
        Err(DecisionError::Expired(at)) => {
            audit(state, admin, "backup.restore.expired", &current, via).await?;
            return Err(decision_error(DecisionError::Expired(at)));
        }
        Err(e) => return Err(decision_error(e)),
    };
    let action = if approve {
        "backup.restore.approve"
    } else {
        "backup.restore.decline"
    };
    audit(state, admin, action, &decided, via).await?;
    if let (Some(ready), Some(dest)) = (ready, dest) {
        let (db, settings) = (state.db.clone(), state.settings.clone());
        tokio::spawn(async move {
            let b = &settings.backups;
            if let Err(e) = restore_in_place(
                &db,
                &dest,
                ready.keys.keys(),
                id,
                &ready.server,
                b.jobs,
                &b.staging_dir,
            )
            .await
            {
                tracing::warn!(restore = %id, error = %e, "in-place restore failed");
            }
            drop(ready.permit);
        });
    }
    Ok(decided)
}

/// `POST /api/backups/{id}/restore` (admins).
#[utoipa::path(post, path = "/api/backups/{id}/restore", tag = "backups",
    params(("id" = Uuid, Path, description = "The backup's id")),
    request_body = RestoreInput,
    responses(
        (status = 202, description = "The restore into a new database started", body = RestoreBody),
        (status = 201, description = "The in-place request waits for a second admin", body = RestoreBody)))]
pub async fn api_restore(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<RestoreInput>,
) -> Result<Response, ApiError> {
    let (status, restore) = start(&state, &current.user, id, &input, "api").await?;
    Ok((status, Json(RestoreBody { restore })).into_response())
}

/// `GET /api/backups/restores` (admins): restores and requests, newest first.
#[utoipa::path(get, path = "/api/backups/restores", tag = "backups",
    responses((status = 200, description = "Restores, newest first", body = RestoreList)))]
pub async fn api_list(State(state): State<AppState>) -> Result<Json<RestoreList>, ApiError> {
    Ok(Json(RestoreList {
        restores: list_restores(&state.db, RESTORES_SHOWN).await?,
    }))
}

/// `GET /api/backups/restores/{id}` (admins).
#[utoipa::path(get, path = "/api/backups/restores/{id}", tag = "backups",
    params(("id" = Uuid, Path, description = "The restore's id")),
    responses((status = 200, description = "The restore", body = RestoreBody)))]
pub async fn api_get(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<RestoreBody>, ApiError> {
    let restore = get_restore(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("restore"))?;
    Ok(Json(RestoreBody { restore }))
}

/// `POST /api/backups/restores/{id}/approve` (a second admin): the in-place restore runs.
#[utoipa::path(post, path = "/api/backups/restores/{id}/approve", tag = "backups",
    params(("id" = Uuid, Path, description = "The restore request's id")),
    responses((status = 202, description = "Approved; the restore runs", body = RestoreBody)))]
pub async fn api_approve(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let restore = decide_request(&state, &current.user, id, true, "api").await?;
    Ok((StatusCode::ACCEPTED, Json(RestoreBody { restore })).into_response())
}

/// `POST /api/backups/restores/{id}/decline` (a second admin).
#[utoipa::path(post, path = "/api/backups/restores/{id}/decline", tag = "backups",
    params(("id" = Uuid, Path, description = "The restore request's id")),
    responses((status = 200, description = "Declined", body = RestoreBody)))]
pub async fn api_decline(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Json<RestoreBody>, ApiError> {
    let restore = decide_request(&state, &current.user, id, false, "api").await?;
    Ok(Json(RestoreBody { restore }))
}

/// The page's restore form.
#[derive(Deserialize)]
pub struct RestoreForm {
    backup_id: Uuid,
    database: String,
    #[serde(default)]
    mode: Option<String>,
}

/// Back to the page, which says what happened (`notice` is one of a few fixed words).
fn notice(what: &str) -> Redirect {
    Redirect::to(&format!("/backups?notice={what}"))
}

/// `POST /backup-restores` (admins, form).
pub async fn page_restore(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<RestoreForm>,
) -> Result<Redirect, PageError> {
    let id = form.backup_id;
    let mode = match form.mode.as_deref() {
        None | Some("") | Some("new") => RestoreModeInput::New,
        Some("in_place") => RestoreModeInput::InPlace,
        Some(_) => return Err(ApiError::bad_request("mode is new or in_place").into()),
    };
    let input = RestoreInput {
        database: form.database,
        mode,
    };
    let (_, r) = start(&state, &current.user, id, &input, "console").await?;
    Ok(notice(match r.mode {
        RestoreMode::New => "restore-new",
        RestoreMode::InPlace => "restore-requested",
    }))
}

/// `POST /backup-restores/{id}/approve` (a second admin, form).
pub async fn page_approve(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    decide_request(&state, &current.user, id, true, "console").await?;
    Ok(notice("restore-approved"))
}

/// `POST /backup-restores/{id}/decline` (a second admin, form).
pub async fn page_decline(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    decide_request(&state, &current.user, id, false, "console").await?;
    Ok(notice("restore-declined"))
}
