//! The gate in front of every protected route: resolves the caller from a bearer token or the
//! session cookie, enforces the route's minimum role, and checks the CSRF token of every
//! state-changing request made with the cookie.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Role, User, csrf_token_for, find_session, read_cookie, same_token};
use crate::AppState;
use crate::error::{ApiError, PageError};

/// The caller, put into the request's extensions by the gate.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user: User,
    /// The CSRF token to put in forms; `None` for API-token callers, who need none.
    pub csrf: Option<String>,
}

/// Largest urlencoded form the gate reads to find its CSRF token.
const FORM_LIMIT: usize = 1024 * 1024;

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
    let (user, session_token) = match identify(&state, request.headers()).await {
        Ok(found) => found,
        Err(e) => return refuse(api, e),
    };
    let Some(user) = user else {
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
    request.extensions_mut().insert(CurrentUser { user, csrf });
    next.run(request).await
}

/// The caller and, for cookie callers, their session token.
async fn identify(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(Option<User>, Option<String>), ApiError> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth.strip_prefix("Bearer ").unwrap_or_default().trim();
        let user = super::find_token_user(&state.db, token).await?;
        if user.is_none() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the API token is unknown, revoked or expired",
            ));
        }
        return Ok((user, None));
    }
    let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| read_cookie(c, super::SESSION_COOKIE))
    else {
        return Ok((None, None));
    };
    let token = token.to_owned();
    let user = find_session(&state.db, &token).await?;
    Ok((user.clone(), user.map(|_| token)))
}

/// Looks for the token in `x-csrf-token`, the `csrf_token` query parameter (multipart forms),
/// or an urlencoded body's `csrf_token` field (the body is put back for the handler).
async fn check_csrf(request: Request, expected: &str) -> (bool, Request) {
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = header_token {
        return (same_token(&token, expected), request);
    }
    let query_token = request
        .uri()
        .query()
        .and_then(|q| form_field(q, "csrf_token"));
    if let Some(token) = query_token {
        return (same_token(&token, expected), request);
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
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
