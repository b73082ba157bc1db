//! The gate in front of every protected route: resolves the caller from a bearer token or the
//! session cookie, enforces the route's minimum role, and checks the CSRF token of every
//! state-changing request made with the cookie.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::csrf::{check_multipart, multipart_boundary};
use super::{Identity, Role, User, csrf_token_for, same_token};
use crate::AppState;
use crate::error::{ApiError, PageError};

/// The caller, put into the request's extensions by the gate.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user: User,
    /// The CSRF token to put in forms; `None` for API-token callers, who need none.
    pub csrf: Option<String>,
    /// The session's id (cookie callers).
    pub session_id: Option<uuid::Uuid>,
    /// The user has a confirmed second factor.
    pub mfa_enrolled: bool,
}

/// Largest urlencoded form the gate reads to find its CSRF token.
const FORM_LIMIT: usize = 1024 * 1024;

/// Where an admin without a second factor may go when the installation requires one.
pub const ENROL_PATH: &str = "/account/mfa";

pub async fn require_viewer(state: State<AppState>, request: Request, next: Next) -> Response {
    gate(state, Role::Viewer, request, next).await
}

pub async fn require_operator(state: State<AppState>, request: Request, next: Next) -> Response {
    gate(state, Role::Operator, request, next).await
}

pub async fn require_admin(state: State<AppState>, request: Request, next: Next) -> Response {
    gate(state, Role::Admin, request, next).await
}

/// API paths and `/metrics` (machines), and page requests from the page's script, are
/// answered in JSON rather than with a sign-in page.
fn is_api(request: &Request) -> bool {
    let path = request.uri().path();
    path.starts_with("/api/")
        || path == "/metrics"
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

fn refuse(api: bool, error: ApiError) -> Response {
    if api {
        error.into_response()
    } else {
        PageError(error).into_response()
    }
}

async fn gate(State(state): State<AppState>, min: Role, request: Request, next: Next) -> Response {
    let api = is_api(&request);
    let (identity, session_token) = match identify(&state, request.headers()).await {
        Ok(found) => found,
        Err(e) => return refuse(api, e),
    };
    let Some(identity) = identity else {
        if api {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: sign in or send `Authorization: Bearer <API token>`",
            )
            .into_response();
        }
        let next_path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", encode_component(next_path)))
            .into_response();
    };
    let user = identity.user;
    let path = request.uri().path();
    if state.auth.settings.require_admin_mfa
        && session_token.is_some()
        && user.role == Role::Admin
        && !identity.mfa_enrolled
        && !(path == ENROL_PATH || path == "/logout")
    {
        if api {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!("admins must enrol a second factor first: open {ENROL_PATH}"),
            )
            .into_response();
        }
        return Redirect::to(ENROL_PATH).into_response();
    }
    if user.role < min {
        return refuse(
            api,
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the {min} role; you are signed in as {}",
                    user.role
                ),
            ),
        );
    }
    let csrf = session_token.as_deref().map(csrf_token_for);
    let mut request = request;
    if let Some(expected) = &csrf
        && !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
    {
        let (checked, rebuilt) = check_csrf(request, expected).await;
        request = rebuilt;
        if !checked {
            return refuse(
                api,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token: reload the page and try again",
                ),
            );
        }
    }
    request.extensions_mut().insert(CurrentUser {
        user,
        csrf,
        session_id: identity.session_id,
        mfa_enrolled: identity.mfa_enrolled,
    });
    next.run(request).await
}

/// The caller and, for cookie callers, their session token. Answered from memory.
async fn identify(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(Option<Identity>, Option<String>), ApiError> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth.strip_prefix("Bearer ").unwrap_or_default().trim();
        let identity = if token.starts_with(super::TOKEN_PREFIX) {
            state.auth.cache.bearer(token).await?
        } else {
            None
        };
        if identity.is_none() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the API token is unknown, revoked or expired",
            ));
        }
        return Ok((identity, None));
    }
    let cookies = state.auth.cookies;
    let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookies.read(c, super::SESSION_COOKIE))
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok((None, None));
    };
    let token = token.to_owned();
    let identity = state.auth.cache.session(&token).await?;
    let token = identity.as_ref().map(|_| token);
    Ok((identity, token))
}

/// Looks for the token in `x-csrf-token`, an urlencoded body's `csrf_token` field (the body
/// is put back for the handler), or a multipart body's first field. Never in the query.
async fn check_csrf(request: Request, expected: &str) -> (bool, Request) {
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = header_token {
        return (same_token(&token, expected), request);
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(boundary) = multipart_boundary(&content_type) {
        return check_multipart(request, &boundary, expected).await;
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return (false, request);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return (false, Request::from_parts(parts, Body::empty()));
    };
    let ok = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| form_field(text, "csrf_token"))
        .is_some_and(|token| same_token(&token, expected));
    (ok, Request::from_parts(parts, Body::from(bytes)))
}

/// One field of an urlencoded string.
pub fn form_field(text: &str, name: &str) -> Option<String> {
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| decode_component(v))
    })
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        assert_eq!(
            form_field("a=1&csrf_token=ab%2Fc+d", "csrf_token").as_deref(),
            Some("ab/c d")
        );
        assert_eq!(form_field("a=1", "csrf_token"), None);
        assert_eq!(form_field("x=%zz", "x").as_deref(), Some("%zz"));
        assert_eq!(encode_component("/chat?x=1"), "/chat%3Fx%3D1");
    }
}
