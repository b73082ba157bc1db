//! A JSON body extractor whose rejections are [`ApiError`]s that say what was wrong.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "request body too large")
            } else {
                ApiError::new(status, e.body_text())
            }
        })?;
        let value = axum::Json::<T>::from_bytes(&bytes).map_err(rejection_error)?;
        // PostgreSQL's text cannot hold NUL: refused here rather than failing in the database.
        if has_escaped_nul(&bytes) {
            return Err(ApiError::bad_request(
                "strings must not contain NUL characters (\\u0000)",
            ));
        }
        Ok(ApiJson(value.0))
    }
}

/// `application/json` or `application/…+json`, parameters aside.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A `\u0000` escape in a JSON text (raw control characters are not valid JSON, and
/// backslashes occur only inside strings, so every escape is seen).
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000".as_slice())
            {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn rejection_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::JsonSyntaxError(e) => format!("invalid JSON: {}", e.body_text()),
        JsonRejection::JsonDataError(e) => format!("invalid request: {}", e.body_text()),
        other => {
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                "request body too large".to_owned()
            } else {
                other.body_text()
            }
        }
    };
    ApiError::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_escaped_nul(br#"{"name": "a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"a\u0000": 1}"#));
        assert!(!has_escaped_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"name": "a\\\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"name": "\"\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name": "\u00e9"}"#));
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/json", false),
            ("application/jsonx", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().expect("header"));
            assert_eq!(json_content_type(&headers), json, "{value}");
        }
        assert!(!json_content_type(&HeaderMap::new()));
    }
}
