//! What can go wrong while talking to a provider. No message here ever contains an API key:
//! keys travel in headers only and error bodies are reduced to the API's own message.

use std::time::Duration;

/// Opening a call failed before any event arrived.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Connection refused, DNS failure, TLS failure: the provider is unreachable.
    #[error("cannot connect to {endpoint}: {detail}")]
    Connect { endpoint: String, detail: String },
    #[error("no answer from {endpoint} in time")]
    Timeout { endpoint: String },
    /// The provider answered with an error status; `message` is from the API's error JSON.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("request to {endpoint} failed: {detail}")]
    Other { endpoint: String, detail: String },
}

impl OpenError {
    /// Worth retrying on the same provider: unreachable, or a server-side (5xx) failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            OpenError::Connect { .. } => true,
            OpenError::Status { status, .. } => *status >= 500,
            OpenError::Timeout { .. } | OpenError::Other { .. } => false,
        }
    }
}

/// A stream failed after it was opened.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("reading the stream from {endpoint} failed: {detail}")]
    Io { endpoint: String, detail: String },
    /// The API sent an error event, or an event that cannot be decoded, mid-stream.
    #[error("bad event from {endpoint}: {detail}")]
    Event { endpoint: String, detail: String },
}

/// No provider can take the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no enabled provider serves model {0:?}")]
    UnknownModel(String),
    #[error("no enabled provider with a chat model is configured")]
    NoProviders,
}

/// Loading the provider directory failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("loading providers from the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The innermost cause of a reqwest error ("Connection refused (os error 111)"), which never
/// holds headers and so never the key; URLs carry no key either (Gemini's goes in a header).
pub(crate) fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// `scheme://host[:port]/path` without query or credentials, for messages.
pub(crate) fn display_endpoint(endpoint: &str) -> String {
    let without_query = endpoint.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => without_query.to_owned(),
    }
}

/// Longest piece of upstream text (an error body's message) Javari repeats anywhere.
pub const UPSTREAM_TEXT_MAX: usize = 200;

/// Upstream text made safe to repeat in a chat error, a status or a log: control characters
/// (newlines, ANSI escapes, NULs) become spaces, whitespace runs collapse, and it is cut at
/// [`UPSTREAM_TEXT_MAX`] characters. A provider's error body is whatever its endpoint chose
/// to send; it is never echoed as it came.
pub fn upstream_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(UPSTREAM_TEXT_MAX + 4));
    let mut chars = 0usize;
    let mut space = false;
    for c in raw.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if chars == UPSTREAM_TEXT_MAX {
            out.truncate(out.trim_end().len());
            out.push('…');
            return out;
        }
        out.push(c);
        chars += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_text_is_bounded_and_has_no_control_characters() {
        assert_eq!(
            upstream_text("  bad\r\nrequest\u{1b}[31m\0 here  "),
            "bad request [31m here"
        );
        let long = upstream_text(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), UPSTREAM_TEXT_MAX + 1);
        assert!(long.ends_with('…'));
        assert_eq!(upstream_text("\n\t"), "");
    }

    #[test]
    fn endpoints_lose_query_and_userinfo() {
        assert_eq!(
            display_endpoint("https://user:pw@api.example.com/v1?key=sk"),
            "https://api.example.com/v1"
        );
        assert_eq!(display_endpoint("http://x/v1"), "http://x/v1");
    }

    #[test]
    fn retryable_errors() {
        let status = |status| OpenError::Status {
            status,
            retry_after: None,
            message: String::new(),
        };
        assert!(status(503).is_retryable());
        assert!(!status(429).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(
            OpenError::Connect {
                endpoint: String::new(),
                detail: String::new()
            }
            .is_retryable()
        );
    }
}
