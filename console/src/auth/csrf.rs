//! CSRF tokens. A signed-in form carries a token derived from the session token (which only
//! the browser holding the HttpOnly cookie knows); the sign-in form uses a double-submit
//! cookie because there is no session yet. A token is never taken from a URL (URLs end up in
//! logs, history and Referer headers): it comes in the `x-csrf-token` header, an urlencoded
//! body's `csrf_token` field, or a multipart body's *first* field `csrf_token` (read before
//! the file, which then streams on to the handler untouched).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use futures::StreamExt;
use sha2::Digest;

pub const LOGIN_CSRF_COOKIE: &str = "javari_login_csrf";

/// Bytes of a multipart body read to find its first field.
const MULTIPART_PEEK: usize = 16 * 1024;

/// The CSRF token of a session: SHA-256 of a fixed label and the session token.
pub fn csrf_token_for(session_token: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"javari csrf v1:");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Constant-time equality, so a wrong token's timing says nothing about the right one.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The boundary of a `multipart/form-data` content type.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

/// What the start of a multipart body says: `None` while more bytes are needed,
/// `Some(None)` when its first field is not `csrf_token`, `Some(Some(value))` when it is.
pub fn first_multipart_field(body: &[u8], boundary: &str) -> Option<Option<String>> {
    let opening = format!("--{boundary}\r\n");
    let start = if body.starts_with(b"\r\n") { 2 } else { 0 };
    let rest = &body[start..];
    if rest.len() < opening.len() {
        return if opening.as_bytes().starts_with(rest) {
            None
        } else {
            Some(None)
        };
    }
    if !rest.starts_with(opening.as_bytes()) {
        return Some(None);
    }
    let rest = &rest[opening.len()..];
    let head_end = find(rest, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
    let named = head.lines().any(|line| {
        line.starts_with("content-disposition:")
            && line.split(';').any(|p| p.trim() == "name=\"csrf_token\"")
    });
    if !named {
        return Some(None);
    }
    let value = &rest[head_end + 4..];
    let closing = format!("\r\n--{boundary}");
    let end = find(value, closing.as_bytes())?;
    Some(
        std::str::from_utf8(&value[..end])
            .ok()
            .map(|v| v.trim().to_owned()),
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Checks a multipart request's first field against `expected`; the request is rebuilt with
/// the bytes read put back in front of the rest of the stream.
pub async fn check_multipart(request: Request, boundary: &str, expected: &str) -> (bool, Request) {
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    let mut verdict = None;
    while verdict.is_none() && read.len() <= MULTIPART_PEEK {
        match stream.next().await {
            Some(Ok(chunk)) => {
                read.extend_from_slice(&chunk);
                verdict = first_multipart_field(&read, boundary);
            }
            _ => break,
        }
    }
    let ok = matches!(verdict, Some(Some(ref token)) if same_token(token, expected));
    let prefix = Bytes::from(read);
    let body = Body::from_stream(
        futures::stream::once(async move { Ok::<Bytes, axum::Error>(prefix) }).chain(stream),
    );
    (ok, Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_token_for("session-a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_token_for("session-b"));
        assert!(same_token(&a, &csrf_token_for("session-a")));
        assert!(!same_token(&a, &csrf_token_for("session-b")));
        assert!(!same_token(&a, ""));
    }

    #[test]
    fn the_first_multipart_field_is_found_in_pieces() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            first_multipart_field(body, "XyZ"),
            Some(Some("abc123".into()))
        );
        for cut in [0, 3, 20, 60, 66] {
            assert_eq!(
                first_multipart_field(&body[..cut], "XyZ"),
                None,
                "cut at {cut}"
            );
        }
        let file_first =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx";
        assert_eq!(first_multipart_field(file_first, "XyZ"), Some(None));
        assert_eq!(first_multipart_field(b"garbage", "XyZ"), Some(None));
        assert_eq!(multipart_boundary("application/json"), None);
    }
}
