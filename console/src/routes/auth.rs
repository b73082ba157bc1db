//! Sign-in and sign-out pages; users and API tokens for admins.

use std::time::Instant;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{
    self, CurrentUser, LOGIN_CSRF_COOKIE, Role, SESSION_COOKIE, cookie_value, read_cookie,
    same_token,
};
use crate::error::ApiError;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: Option<String>,
    email: String,
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

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.settings.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: String,
    error: Option<String>,
    email: String,
) -> Response {
    let csrf = auth::random_token();
    let secure = auth::secure_attribute(secure(state, headers));
    let cookie = format!(
        "{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
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

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    login_page(
        &state,
        &headers,
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
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_owned();
    let cookie_csrf = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| read_cookie(c, LOGIN_CSRF_COOKIE));
    if !cookie_csrf.is_some_and(|c| !c.is_empty() && same_token(c, &form.csrf_token)) {
        return login_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            Some("The form expired or was not sent from this page; try again.".into()),
            email,
        );
    }
    // Per account, and per client address when a proxy tells it (`X-Forwarded-For`).
    let mut keys = vec![format!("email:{}", email.to_lowercase())];
    if let Some(client) = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
    {
        keys.push(format!("client:{}", client.trim()));
    }
    let now = Instant::now();
    if let Err(wait) = state.login_limiter.begin(&keys, now) {
        tracing::warn!("sign-in rate limited");
        let mut response = login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            Some(format!(
                "Too many failed sign-ins; wait {wait} seconds and try again."
            )),
            email,
        );
        if let Ok(v) = wait.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let account = match auth::find_by_email(&state.db, &email).await {
        Ok(account) => account,
        Err(e) => return crate::error::PageError(ApiError::from(e)).into_response(),
    };
    let hash = account
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| auth::decoy_hash().to_owned());
    let password = form.password;
    let verified = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let account = account.filter(|a| verified && !a.disabled);
    let Some(account) = account else {
        return login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            Some("Wrong email or password.".into()),
            email,
        );
    };
    state.login_limiter.succeeded(&keys, now);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let session = match auth::create_session(&state.db, &account.user, user_agent).await {
        Ok(s) => s,
        Err(e) => return crate::error::PageError(ApiError::from(e)).into_response(),
    };
    tracing::info!(user = %account.user.email, "signed in");
    (
        [(
            header::SET_COOKIE,
            cookie_value(Some(&session.token), secure(&state, &headers)),
        )],
        Redirect::to(&next),
    )
        .into_response()
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| read_cookie(c, SESSION_COOKIE))
        && let Err(e) = auth::end_session(&state.db, token).await
    {
        return crate::error::PageError(ApiError::from(e)).into_response();
    }
    (
        [(
            header::SET_COOKIE,
            cookie_value(None, secure(&state, &headers)),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    password: String,
    role: String,
}

/// `POST /api/users` (admin): creates a user.
pub async fn create_user(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    let role = Role::parse(&new.role)
        .ok_or_else(|| ApiError::bad_request("role must be viewer, operator or admin"))?;
    let email = new.email.trim();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::bad_request("email must be an address"));
    }
    if new.password.chars().count() < 12 {
        return Err(ApiError::bad_request(
            "password must be at least 12 characters",
        ));
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
    let user = match auth::create_user(&state.db, email, &new.password, role).await {
        Ok(user) => user,
        // Created by a concurrent request between the check and the insert.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(conflict()),
        Err(e) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    name: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /api/tokens` (admin): an API token, shown once.
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
    let token = auth::create_token(&state.db, &current.user, name, role).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(token),
    ))
}

/// `GET /api/me`: who the caller is.
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
