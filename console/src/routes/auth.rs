//! Sign-in (password, then the second factor when enrolled) and sign-out; users and API
//! tokens; second-factor enrolment.

use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{
    self, BUSY_RETRY_AFTER, CurrentUser, Enrolment, LOGIN_CSRF_COOKIE, MFA_COOKIE, MfaError, Role,
    SESSION_COOKIE, TokenInfo, same_token,
};
use crate::error::{ApiError, PageError};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: Option<String>,
    email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "login_mfa.html")]
struct LoginMfaPage {
    csrf: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths of this console are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Printable ASCII only: browsers drop tabs and newlines from a Location, which would
        // turn `/\t/evil.example` into `//evil.example`.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/chat".to_owned(),
    }
}

/// A fresh double-submit CSRF value and the cookie that carries it.
fn login_csrf(state: &AppState) -> (String, String) {
    let csrf = auth::random_token();
    let cookie = state.auth.cookies.set(
        LOGIN_CSRF_COOKIE,
        Some(&csrf),
        "Strict",
        Duration::from_secs(3600),
    );
    (csrf, cookie)
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    error: Option<String>,
    email: String,
) -> Response {
    let (csrf, cookie) = login_csrf(state);
    (
        status,
        [(header::SET_COOKIE, cookie)],
        LoginPage {
            csrf,
            next,
            error,
            email,
        },
    )
        .into_response()
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(v) = seconds.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn cookie_header(headers: &HeaderMap) -> &str {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The double-submit check of the sign-in forms.
fn login_csrf_ok(state: &AppState, headers: &HeaderMap, sent: &str) -> bool {
    state
        .auth
        .cookies
        .read(cookie_header(headers), LOGIN_CSRF_COOKIE)
        .is_some_and(|c| !c.is_empty() && same_token(c, sent))
}

pub async fn login_form(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    login_page(
        &state,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        None,
        String::new(),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_owned();
    if email.len() > 254 || form.password.len() > 1024 {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            next,
            Some("Email or password is too long.".into()),
            String::new(),
        );
    }
    if !login_csrf_ok(&state, &headers, &form.csrf_token) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            next,
            Some("The form expired or was not sent from this page; try again.".into()),
            email,
        );
    }
    let client = auth::client_of(&extensions, &headers, &state.auth.settings.trusted_proxies);
    let attempt = match state.auth.limiter.begin(&email, &client, Instant::now()) {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::warn!("sign-in rate limited");
            let page = login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                next,
                Some(format!(
                    "Too many failed sign-ins from here; wait {wait} seconds and try again."
                )),
                email,
            );
            return with_retry_after(page, wait);
        }
    };
    let account = match auth::find_by_email(&state.db, &email).await {
        Ok(account) => account,
        Err(e) => {
            state.auth.limiter.abandoned(&attempt);
            return PageError(ApiError::from(e)).into_response();
        }
    };
    let verified = match account.as_ref().and_then(|a| a.password_hash.clone()) {
        Some(hash) => match state.auth.gate.verify(form.password, hash).await {
            Ok(verified) => verified,
            Err(auth::Busy) => {
                state.auth.limiter.abandoned(&attempt);
                tracing::warn!("sign-in refused: every password check slot is busy");
                let page = login_page(
                    &state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    next,
                    Some(format!(
                        "The console is busy checking other sign-ins; try again in {BUSY_RETRY_AFTER} seconds."
                    )),
                    email,
                );
                return with_retry_after(page, BUSY_RETRY_AFTER);
            }
        },
        // No account (or none with a password): as slow as a check, but no work.
        None => {
            state.auth.gate.decoy().await;
            false
        }
    };
    let Some(account) = account.filter(|a| verified && !a.disabled) else {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            next,
            Some("Wrong email or password.".into()),
            email,
        );
    };
    state.auth.limiter.succeeded(&attempt);
    let enrolled = match auth::is_enrolled(&state.db, account.user.id).await {
        Ok(enrolled) => enrolled,
        Err(e) => return PageError(ApiError::from(e)).into_response(),
    };
    if enrolled {
        let token = match auth::create_challenge(&state.db, account.user.id, &next).await {
            Ok(token) => token,
            Err(e) => return PageError(ApiError::from(e)).into_response(),
        };
        let cookie =
            state
                .auth
                .cookies
                .set(MFA_COOKIE, Some(&token), "Strict", Duration::from_secs(300));
        return ([(header::SET_COOKIE, cookie)], Redirect::to("/login/mfa")).into_response();
    }
    start_session(&state, &headers, &account.user, &next, None).await
}

/// Creates the session and answers with its cookie and a redirect to `next`.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &auth::User,
    next: &str,
    also_clear: Option<&str>,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let session = match auth::create_session(&state.db, user, user_agent).await {
        Ok(s) => s,
        Err(e) => return PageError(ApiError::from(e)).into_response(),
    };
    tracing::info!(user = %user.email, "signed in");
    let mut cookies = vec![(
        header::SET_COOKIE,
        state.auth.cookies.session(Some(&session.token)),
    )];
    if let Some(base) = also_clear {
        cookies.push((
            header::SET_COOKIE,
            state.auth.cookies.set(base, None, "Strict", Duration::ZERO),
        ));
    }
    (AppendHeaders(cookies), Redirect::to(next)).into_response()
}

pub async fn login_mfa_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state
        .auth
        .cookies
        .read(cookie_header(&headers), MFA_COOKIE)
        .is_none()
    {
        return Redirect::to("/login").into_response();
    }
    mfa_page(&state, StatusCode::OK, None)
}

fn mfa_page(state: &AppState, status: StatusCode, error: Option<String>) -> Response {
    let (csrf, cookie) = login_csrf(state);
    (
        status,
        [(header::SET_COOKIE, cookie)],
        LoginMfaPage { csrf, error },
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    #[serde(default)]
    csrf_token: String,
}

pub async fn login_mfa(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    if !login_csrf_ok(&state, &headers, &form.csrf_token) {
        return mfa_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("The form expired or was not sent from this page; try again.".into()),
        );
    }
    let token = state
        .auth
        .cookies
        .read(cookie_header(&headers), MFA_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let challenge = match auth::find_challenge(&state.db, &token).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                "/chat".into(),
                Some("The sign-in expired; sign in again.".into()),
                String::new(),
            );
        }
        Err(e) => return PageError(ApiError::from(e)).into_response(),
    };
    let right = match auth::check_second_factor(
        &state.db,
        state.auth.keys(),
        challenge.user_id,
        &form.code.chars().take(64).collect::<String>(),
    )
    .await
    {
        Ok(right) => right,
        Err(e) => return PageError(mfa_error(e)).into_response(),
    };
    if !right {
        let left = match auth::fail_challenge(&state.db, &challenge).await {
            Ok(left) => left,
            Err(e) => return PageError(ApiError::from(e)).into_response(),
        };
        if left == 0 {
            return login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                challenge.next,
                Some("Too many wrong codes; sign in again.".into()),
                String::new(),
            );
        }
        return mfa_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some(format!("Wrong code; {left} tries left.")),
        );
    }
    if let Err(e) = auth::end_challenge(&state.db, &challenge).await {
        return PageError(ApiError::from(e)).into_response();
    }
    let user: Option<(String, String, bool)> =
        match sqlx::query_as("SELECT email, role, disabled FROM javari_users WHERE id = $1")
            .bind(challenge.user_id)
            .fetch_optional(&state.db)
            .await
        {
            Ok(u) => u,
            Err(e) => return PageError(ApiError::from(e)).into_response(),
        };
    let Some((email, role, false)) = user else {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            "/chat".into(),
            Some("Wrong email or password.".into()),
            String::new(),
        );
    };
    let user = auth::User {
        id: challenge.user_id,
        email,
        role: Role::from_db(&role),
    };
    start_session(&state, &headers, &user, &challenge.next, Some(MFA_COOKIE)).await
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = state
        .auth
        .cookies
        .read(cookie_header(&headers), SESSION_COOKIE)
    {
        match auth::end_session(&state.db, token).await {
            Ok(Some(id)) => state.auth.cache.forget_session(id),
            Ok(None) => {}
            Err(e) => return PageError(ApiError::from(e)).into_response(),
        }
    }
    (
        [(header::SET_COOKIE, state.auth.cookies.session(None))],
        Redirect::to("/login"),
    )
        .into_response()
}

fn mfa_error(e: MfaError) -> ApiError {
    match e {
        MfaError::NoMasterKey => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        MfaError::AlreadyEnrolled => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        MfaError::NotStarted | MfaError::WrongCode => ApiError::bad_request(e.to_string()),
        MfaError::Vault(e) => ApiError::internal("cannot open the second-factor secret", e),
        MfaError::Db(e) => ApiError::from(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account_mfa.html")]
struct AccountMfaPage {
    user: auth::User,
    csrf: String,
    error: Option<String>,
    required: bool,
    enrolled: bool,
    codes_left: i64,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
}

/// `GET /account/mfa`: enrol a second factor, or see that it is on. The secret is shown
/// only until the first code confirms it.
pub async fn mfa_settings(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    account_mfa_page(&state, current, StatusCode::OK, None).await
}

async fn account_mfa_page(
    state: &AppState,
    current: CurrentUser,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let enrolled = auth::is_enrolled(&state.db, current.user.id).await?;
    let (enrolment, codes_left) = if enrolled {
        (
            None,
            auth::recovery_codes_left(&state.db, current.user.id).await?,
        )
    } else {
        let e = auth::begin_enrolment(
            &state.db,
            state.auth.keys(),
            current.user.id,
            &current.user.email,
        )
        .await
        .map_err(mfa_error)?;
        (Some(e), 0)
    };
    let page = AccountMfaPage {
        required: state.auth.settings.require_admin_mfa
            && current.user.role == Role::Admin
            && !enrolled,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        error,
        enrolled,
        codes_left,
        enrolment,
        recovery_codes: Vec::new(),
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// `POST /account/mfa`: confirms the enrolment with a first code; shows the recovery codes once.
pub async fn mfa_confirm(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let codes =
        match auth::confirm_enrolment(&state.db, state.auth.keys(), current.user.id, &form.code)
            .await
        {
            Ok(codes) => codes,
            Err(MfaError::WrongCode) => {
                return account_mfa_page(
                    &state,
                    current,
                    StatusCode::BAD_REQUEST,
                    Some(MfaError::WrongCode.to_string()),
                )
                .await;
            }
            Err(e) => return Err(PageError(mfa_error(e))),
        };
    state.auth.cache.refresh_user(current.user.id).await?;
    tracing::info!(user = %current.user.email, "second factor enrolled");
    let page = AccountMfaPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        error: None,
        required: false,
        enrolled: true,
        codes_left: codes.len() as i64,
        enrolment: None,
        recovery_codes: codes,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    password: String,
    #[schema(pattern = "^(viewer|operator|admin)$")]
    role: String,
}

/// `POST /api/users` (admin): creates a user.
#[utoipa::path(post, path = "/api/users", tag = "users",
    request_body = NewUser,
    responses((status = 201, description = "The user", body = auth::User)))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    let user = super::users::create(&state, &current, &new.email, &new.password, &new.role).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The token's role (default `viewer`).
    #[serde(default)]
    #[schema(pattern = "^(viewer|operator|admin)$")]
    role: Option<String>,
    /// Lifetime in days (default 90, at most the installation's maximum).
    #[serde(default, rename = "expiresInDays")]
    #[schema(minimum = 1)]
    expires_in_days: Option<u32>,
}

/// `POST /api/tokens` (admin): an API token, shown once.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses((status = 201, description = "The token, shown this once", body = auth::NewToken)))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    let role = match request.role.as_deref() {
        None => Role::Viewer,
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::bad_request("role must be viewer, operator or admin"))?,
    };
    let max = state.auth.settings.max_token_days;
    let days = request
        .expires_in_days
        .unwrap_or(state.auth.settings.default_token_days.min(max));
    if days == 0 || days > max {
        return Err(ApiError::bad_request(format!(
            "expiresInDays must be 1 to {max}"
        )));
    }
    let expires_at = Utc::now() + chrono::Duration::days(i64::from(days));
    let token =
        auth::create_token_expiring(&state.db, &current.user, name, role, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(token),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListQuery {
    /// Everyone's tokens (admins only).
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    #[serde(flatten)]
    token: TokenInfo,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = String)]
    state: &'static str,
}

/// Whose tokens the caller sees: their own, or with `all` (admins only) everyone's.
fn token_scope(current: &CurrentUser, all: bool) -> Result<Option<Uuid>, ApiError> {
    match (all, current.user.role) {
        (true, Role::Admin) => Ok(None),
        (true, _) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "listing every user's tokens needs the admin role",
        )),
        (false, _) => Ok(Some(current.user.id)),
    }
}

/// `GET /api/tokens[?all=true]`: the caller's tokens (admins: everyone's with `all`).
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", params(TokenListQuery),
    responses((status = 200, description = "The tokens, never their values", body = TokenList)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(q): Query<TokenListQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let owner = token_scope(&current, q.all)?;
    let tokens = auth::list_tokens(&state.db, current.user.actor(), owner)
        .await?
        .into_iter()
        .map(|token| TokenView {
            state: token.state(),
            token,
        })
        .collect();
    Ok(Json(TokenList { tokens }))
}

async fn revoke(state: &AppState, current: &CurrentUser, id: Uuid) -> Result<(), ApiError> {
    let owner = if current.user.role == Role::Admin {
        None
    } else {
        Some(current.user.id)
    };
    if !auth::revoke_token(&state.db, current.user.actor(), id, owner).await? {
        return Err(ApiError::not_found("token"));
    }
    state.auth.cache.forget_token(id);
    crate::audit::record(
        &state.db,
        crate::audit::AuditRecord {
            actor: &current.user.email,
            action: "token.revoke",
            resource_type: "User",
            resource_id: &id.to_string(),
            details: serde_json::Map::new(),
        },
    )
    .await?;
    tracing::info!(token = %id, by = %current.user.email, "API token revoked");
    Ok(())
}

/// `DELETE /api/tokens/{id}`: revokes one of the caller's tokens (admins: anyone's).
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    user: auth::User,
    csrf: String,
    all: bool,
    tokens: Vec<TokenInfo>,
}

/// `GET /tokens`: the caller's API tokens (an admin sees everyone's).
pub async fn tokens_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    let all = current.user.role == Role::Admin;
    let tokens =
        auth::list_tokens(&state.db, current.user.actor(), token_scope(&current, all)?).await?;
    Ok(TokensPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        all,
        tokens,
    }
    .into_response())
}

/// `POST /tokens/{id}/revoke` (the tokens page's form).
pub async fn revoke_token_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    revoke(&state, &current, id).await?;
    Ok(Redirect::to("/tokens"))
}

/// `GET /api/me`: who the caller is.
#[utoipa::path(get, path = "/api/me", tag = "users",
    responses((status = 200, description = "The caller", body = auth::User)))]
pub async fn me(Extension(current): Extension<CurrentUser>) -> impl IntoResponse {
    Json(current.user)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_console_are_followed() {
        assert_eq!(
            safe_next(Some("/conversations?search=x")),
            "/conversations?search=x"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/chat", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/chat");
    }
}
