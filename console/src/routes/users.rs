//! Users and their API tokens (admin): list, create, change a role, disable or enable, list
//! and revoke a user's tokens. Every change writes an audit row and takes effect at once: the
//! replica that made it refreshes its own cache, the others hear the `javari_auth`
//! notification the tables' triggers send.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::audit::{AuditRecord, record};
use crate::auth::{self, CurrentUser, Role, TokenInfo, User, UserSummary};
use crate::error::{ApiError, PageError};

#[derive(Serialize)]
struct Empty {}

async fn audit(
    state: &AppState,
    current: &CurrentUser,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    record(
        &state.db,
        AuditRecord {
            actor: &current.user.email,
            action,
            resource_type: "User",
            resource_id: target,
            details: Empty {},
        },
    )
    .await?;
    Ok(())
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| ApiError::bad_request("role must be viewer, operator or admin"))
}

/// An admin may not lock themself out: their own role and account stay as they are.
fn not_self(current: &CurrentUser, id: Uuid, what: &str) -> Result<(), ApiError> {
    if current.user.id == id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("you cannot {what} yourself: ask another admin"),
        ));
    }
    Ok(())
}

/// Creates a user (email, a password of at least 12 characters, a role); audited.
pub(super) async fn create(
    state: &AppState,
    current: &CurrentUser,
    email: &str,
    password: &str,
    role: &str,
) -> Result<User, ApiError> {
    let role = parse_role(role)?;
    let email = email.trim();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::bad_request("email must be an address"));
    }
    if password.chars().count() < 12 {
        return Err(ApiError::bad_request(
            "password must be at least 12 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::bad_request("password must be at most 1024 bytes"));
    }
    let conflict = || {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("a user {email} exists already"),
        )
    };
    if auth::find_by_email(&state.db, email).await?.is_some() {
        return Err(conflict());
    }
    let user = match auth::create_user(&state.db, email, password, role).await {
        Ok(user) => user,
        // Created by a concurrent request between the check and the insert.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(conflict()),
        Err(e) => return Err(e.into()),
    };
    audit(state, current, "user.create", &user.email).await?;
    tracing::info!(user = %user.email, role = %role, by = %current.user.email, "user created");
    Ok(user)
}

async fn change_role(
    state: &AppState,
    current: &CurrentUser,
    id: Uuid,
    role: Role,
) -> Result<UserSummary, ApiError> {
    not_self(current, id, "change the role of")?;
    let user = auth::set_role(&state.db, id, role)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    state.auth.cache.refresh_user(id).await?;
    audit(state, current, &format!("user.role.{role}"), &user.email).await?;
    tracing::info!(user = %user.email, role = %role, by = %current.user.email, "role changed");
    Ok(user)
}

async fn change_disabled(
    state: &AppState,
    current: &CurrentUser,
    id: Uuid,
    disabled: bool,
) -> Result<UserSummary, ApiError> {
    not_self(current, id, "disable or enable")?;
    let reason = format!("disabled by {}", current.user.email);
    let user = auth::set_disabled(&state.db, id, disabled, disabled.then_some(reason.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    // This replica refuses the user's sessions and tokens from now on; the others as soon as
    // the notification reaches them.
    state.auth.cache.refresh_user(id).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(state, current, action, &user.email).await?;
    tracing::info!(user = %user.email, disabled, by = %current.user.email, "user changed");
    Ok(user)
}

async fn user_tokens(
    state: &AppState,
    current: &CurrentUser,
    id: Uuid,
) -> Result<(UserSummary, Vec<TokenInfo>), ApiError> {
    let target = auth::find_user(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let tokens = auth::list_tokens(&state.db, current.user.actor(), Some(id)).await?;
    Ok((target, tokens))
}

/// Revokes token `token` of user `id`; audited.
async fn revoke_token_of(
    state: &AppState,
    current: &CurrentUser,
    id: Uuid,
    token: Uuid,
) -> Result<(), ApiError> {
    if !auth::revoke_token(&state.db, current.user.actor(), token, Some(id)).await? {
        return Err(ApiError::not_found("token"));
    }
    state.auth.cache.forget_token(token);
    audit(state, current, "token.revoke", &token.to_string()).await?;
    tracing::info!(token = %token, by = %current.user.email, "API token revoked");
    Ok(())
}

// ---- JSON API ----

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    users: Vec<UserSummary>,
}

/// `GET /api/users` (admin): every user (at most 1000), by email.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, description = "The users, never their passwords", body = UserList)))]
pub async fn api_list(State(state): State<AppState>) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList {
        users: auth::list_users(&state.db).await?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A new role.
    #[serde(default)]
    #[schema(pattern = "^(viewer|operator|admin)$")]
    role: Option<String>,
    /// Disable (`true`) or enable (`false`) the account: a disabled user's sessions and
    /// tokens stop working at once.
    #[serde(default)]
    disabled: Option<bool>,
}

/// `PATCH /api/users/{id}` (admin): changes a user's role and/or disables or enables them.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UserChange,
    responses((status = 200, description = "The user as changed", body = UserSummary)))]
pub async fn api_update(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<UserSummary>, ApiError> {
    if change.role.is_none() && change.disabled.is_none() {
        return Err(ApiError::bad_request("send role and/or disabled"));
    }
    let role = change.role.as_deref().map(parse_role).transpose()?;
    let mut user = None;
    if let Some(role) = role {
        user = Some(change_role(&state, &current, id, role).await?);
    }
    if let Some(disabled) = change.disabled {
        user = Some(change_disabled(&state, &current, id, disabled).await?);
    }
    user.map(Json)
        .ok_or_else(|| ApiError::bad_request("nothing to change"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserTokens {
    user: UserSummary,
    tokens: Vec<TokenInfo>,
}

/// `GET /api/users/{id}/tokens` (admin): a user's API tokens, never their values.
#[utoipa::path(get, path = "/api/users/{id}/tokens", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user and their tokens", body = UserTokens)))]
pub async fn api_tokens(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Json<UserTokens>, ApiError> {
    let (user, tokens) = user_tokens(&state, &current, id).await?;
    Ok(Json(UserTokens { user, tokens }))
}

/// `DELETE /api/users/{id}/tokens/{token}` (admin): revokes one of a user's tokens.
#[utoipa::path(delete, path = "/api/users/{id}/tokens/{token}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id"),
           ("token" = Uuid, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked")))]
pub async fn api_revoke_token(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((id, token)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    revoke_token_of(&state, &current, id, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Pages ----

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    user: User,
    csrf: String,
    users: Vec<UserSummary>,
}

/// `GET /users` (admin).
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    let users = auth::list_users(&state.db).await?;
    Ok(UsersPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        users,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct CreateForm {
    email: String,
    password: String,
    role: String,
}

/// `POST /users` (the create form).
pub async fn page_create(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<CreateForm>,
) -> Result<Redirect, PageError> {
    create(&state, &current, &form.email, &form.password, &form.role).await?;
    Ok(Redirect::to("/users"))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /users/{id}/role`.
pub async fn page_role(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(form): Form<RoleForm>,
) -> Result<Redirect, PageError> {
    change_role(&state, &current, id, parse_role(&form.role)?).await?;
    Ok(Redirect::to("/users"))
}

/// `POST /users/{id}/disable`.
pub async fn page_disable(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    change_disabled(&state, &current, id, true).await?;
    Ok(Redirect::to("/users"))
}

/// `POST /users/{id}/enable`.
pub async fn page_enable(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    change_disabled(&state, &current, id, false).await?;
    Ok(Redirect::to("/users"))
}

#[derive(Template, WebTemplate)]
#[template(path = "user.html")]
struct UserPage {
    user: User,
    csrf: String,
    target: UserSummary,
    tokens: Vec<TokenInfo>,
}

/// `GET /users/{id}` (admin): one user and their API tokens.
pub async fn page_user(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let (target, tokens) = user_tokens(&state, &current, id).await?;
    Ok(UserPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        target,
        tokens,
    }
    .into_response())
}

/// `POST /users/{id}/tokens/{token}/revoke`.
pub async fn page_revoke_token(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((id, token)): Path<(Uuid, Uuid)>,
) -> Result<Redirect, PageError> {
    revoke_token_of(&state, &current, id, token).await?;
    Ok(Redirect::to(&format!("/users/{id}")))
}
