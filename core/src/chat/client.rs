//! Opens a streaming chat call on any provider API and turns its body into [`StreamEvent`]s.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use javari_crds::provider::ProviderApi;
use reqwest::header::{HeaderValue, RETRY_AFTER};

use super::error::{OpenError, StreamError, display_endpoint, root_cause};
use super::request::{ChatRequest, StreamEvent, error_message};
use super::sse::{DEFAULT_MAX_LINE_BYTES, SseEvent, SseParser};
use super::types::ProviderEntry;
use super::{anthropic, gemini, openai};

/// The events of one call, ending after `Finish` or when the body ends.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, StreamError>>;

/// Anthropic API version sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The provider's key as a header value marked sensitive (kept out of reqwest's Debug).
pub(crate) fn key_header(provider: &ProviderEntry) -> Result<Option<HeaderValue>, OpenError> {
    let Some(key) = provider.api_key.as_ref() else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_bytes(key.expose()).map_err(|_| OpenError::Other {
        endpoint: display_endpoint(&provider.endpoint),
        detail: "the API key contains characters not allowed in an HTTP header".into(),
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// Adds the API's authentication to `request`.
pub(crate) fn authenticate(
    request: reqwest::RequestBuilder,
    provider: &ProviderEntry,
) -> Result<reqwest::RequestBuilder, OpenError> {
    let key = key_header(provider)?;
    Ok(match provider.api {
        ProviderApi::Openai | ProviderApi::OpenaiCompatible => match key {
            Some(key) => {
                let mut bearer = HeaderValue::from_bytes(&[b"Bearer ", key.as_bytes()].concat())
                    .map_err(|_| OpenError::Other {
                        endpoint: display_endpoint(&provider.endpoint),
                        detail: "the API key is not a valid bearer token".into(),
                    })?;
                bearer.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, bearer)
            }
            None => request,
        },
        ProviderApi::Anthropic => {
            let request = request.header("anthropic-version", ANTHROPIC_VERSION);
            match key {
                Some(key) => request.header("x-api-key", key),
                None => request,
            }
        }
        ProviderApi::Gemini => match key {
            Some(key) => request.header("x-goog-api-key", key),
            None => request,
        },
    })
}

/// The URL and body of a streaming chat call.
pub fn chat_request(
    http: &reqwest::Client,
    provider: &ProviderEntry,
    req: &ChatRequest,
) -> Result<reqwest::RequestBuilder, OpenError> {
    let base = provider.endpoint.trim_end_matches('/');
    let (url, body) = match provider.api {
        ProviderApi::Openai | ProviderApi::OpenaiCompatible => {
            (format!("{base}/chat/completions"), openai::body(req))
        }
        ProviderApi::Anthropic => (format!("{base}/v1/messages"), anthropic::body(req)),
        ProviderApi::Gemini => {
            let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
            (
                format!("{base}/models/{model}:streamGenerateContent?alt=sse"),
                gemini::body(req),
            )
        }
    };
    let request = http
        .post(url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&body);
    authenticate(request, provider)
}

/// Maps a transport error of `send()`.
pub(crate) fn send_error(error: &reqwest::Error, endpoint: &str) -> OpenError {
    let endpoint = display_endpoint(endpoint);
    if error.is_timeout() {
        OpenError::Timeout { endpoint }
    } else if error.is_connect() {
        OpenError::Connect {
            endpoint,
            detail: root_cause(error),
        }
    } else {
        OpenError::Other {
            endpoint,
            detail: root_cause(error),
        }
    }
}

/// Removes the key from text a provider sent back (some APIs echo part of it).
pub(crate) fn redact(text: &str, provider: &ProviderEntry) -> String {
    match provider
        .api_key
        .as_ref()
        .map(|k| String::from_utf8_lossy(k.expose()).into_owned())
    {
        Some(key) if key.len() >= 4 => text.replace(&key, "[redacted]"),
        _ => text.to_owned(),
    }
}

/// Bytes of an error answer read by default; the rest is never read.
pub const DEFAULT_MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// Limits on what is read from a provider's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Longest SSE line (and event) accepted; a longer one ends the stream.
    pub max_line_bytes: usize,
    /// Bytes of an error body read for its message.
    pub max_error_body_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_error_body_bytes: DEFAULT_MAX_ERROR_BODY_BYTES,
        }
    }
}

/// At most `max` bytes of the body; the connection is dropped after.
async fn read_capped(response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// Turns an error answer into [`OpenError::Status`] with the API's own message, reading at
/// most [`DEFAULT_MAX_ERROR_BODY_BYTES`] of it.
pub(crate) async fn status_error(
    response: reqwest::Response,
    provider: &ProviderEntry,
) -> OpenError {
    status_error_capped(response, provider, DEFAULT_MAX_ERROR_BODY_BYTES).await
}

/// [`status_error`] reading at most `max_body` bytes.
pub(crate) async fn status_error_capped(
    response: reqwest::Response,
    provider: &ProviderEntry,
    max_body: usize,
) -> OpenError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_capped(response, max_body).await;
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| super::error::upstream_text(&text));
    let message = if message.trim().is_empty() {
        format!("HTTP {status} without a message")
    } else {
        redact(&message, provider)
    };
    OpenError::Status {
        status,
        retry_after,
        message,
    }
}

enum Decoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Gemini(gemini::Decoder),
}

impl Decoder {
    fn new(api: ProviderApi) -> Self {
        match api {
            ProviderApi::Openai | ProviderApi::OpenaiCompatible => Self::OpenAi(Default::default()),
            ProviderApi::Anthropic => Self::Anthropic(Default::default()),
            ProviderApi::Gemini => Self::Gemini(Default::default()),
        }
    }

    fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, String> {
        match self {
            Self::OpenAi(d) => d.event(event),
            Self::Anthropic(d) => d.event(event),
            Self::Gemini(d) => d.event(event),
        }
    }

    fn end(&mut self) -> Option<StreamEvent> {
        match self {
            Self::OpenAi(d) => d.end(),
            Self::Anthropic(d) => d.end(),
            Self::Gemini(d) => d.end(),
        }
    }
}

struct Reader<B> {
    body: BoxStream<'static, reqwest::Result<B>>,
    parser: SseParser,
    decoder: Decoder,
    queue: VecDeque<Result<StreamEvent, StreamError>>,
    ended: bool,
    endpoint: String,
    provider: ProviderEntry,
}

impl<B: AsRef<[u8]>> Reader<B> {
    fn handle(&mut self, event: SseEvent) {
        if self.ended {
            return;
        }
        match self.decoder.event(&event) {
            Ok(events) => {
                let finished = events
                    .iter()
                    .any(|e| matches!(e, StreamEvent::Finish { .. }));
                self.queue.extend(events.into_iter().map(Ok));
                if finished {
                    self.ended = true;
                }
            }
            Err(detail) => {
                self.queue.push_back(Err(StreamError::Event {
                    endpoint: self.endpoint.clone(),
                    detail: redact(&detail, &self.provider),
                }));
                self.ended = true;
            }
        }
    }

    fn too_long(&mut self, error: super::sse::LineTooLong) {
        if !self.ended {
            self.queue.push_back(Err(StreamError::Event {
                endpoint: self.endpoint.clone(),
                detail: error.to_string(),
            }));
            self.ended = true;
        }
    }

    async fn next(mut self) -> Option<(Result<StreamEvent, StreamError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            if self.ended {
                return None;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => match self.parser.push(chunk.as_ref()) {
                    Ok(events) => {
                        for event in events {
                            self.handle(event);
                        }
                    }
                    Err(too_long) => self.too_long(too_long),
                },
                Some(Err(error)) => {
                    self.queue.push_back(Err(StreamError::Io {
                        endpoint: self.endpoint.clone(),
                        detail: root_cause(&error),
                    }));
                    self.ended = true;
                }
                None => {
                    match self.parser.finish() {
                        Ok(Some(event)) => self.handle(event),
                        Ok(None) => {}
                        Err(too_long) => self.too_long(too_long),
                    }
                    if !self.ended
                        && let Some(finish) = self.decoder.end()
                    {
                        self.queue.push_back(Ok(finish));
                    }
                    self.ended = true;
                }
            }
        }
    }
}

/// Sends the request; on a success status returns the stream of its events.
#[tracing::instrument(skip_all, fields(provider = %format!("{}/{}", provider.namespace, provider.name), model = %req.model))]
pub async fn open_stream(
    http: &reqwest::Client,
    provider: &ProviderEntry,
    req: &ChatRequest,
    limits: ReadLimits,
) -> Result<ChatStream, OpenError> {
    let response = chat_request(http, provider, req)?
        .send()
        .await
        .map_err(|e| send_error(&e, &provider.endpoint))?;
    if !response.status().is_success() {
        return Err(status_error_capped(response, provider, limits.max_error_body_bytes).await);
    }
    let reader = Reader {
        body: response.bytes_stream().boxed(),
        parser: SseParser::with_limit(limits.max_line_bytes),
        decoder: Decoder::new(provider.api),
        queue: VecDeque::new(),
        ended: false,
        endpoint: display_endpoint(&provider.endpoint),
        provider: provider.clone(),
    };
    Ok(futures::stream::unfold(reader, Reader::next).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn provider(endpoint: String) -> ProviderEntry {
        ProviderEntry {
            id: uuid::Uuid::new_v4(),
            namespace: "ai".into(),
            name: "endless".into(),
            api: ProviderApi::Openai,
            endpoint,
            api_key: None,
            priority: 1,
            health: javari_crds::provider::ProviderHealth::Unknown,
            rate_limit_rpm: None,
            models: Vec::new(),
        }
    }

    /// A server answering 500 with a body that never ends.
    async fn endless_error_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = format!("{:x}\r\n{}\r\n", 8192, "e".repeat(8192));
                    while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                });
            }
        });
        format!("http://{addr}/v1")
    }

    #[tokio::test]
    async fn an_endless_error_body_is_read_up_to_the_cap() {
        crate::http::install_crypto_provider();
        let endpoint = endless_error_server().await;
        let req = ChatRequest {
            model: "m".into(),
            messages: Vec::new(),
            temperature: 0.0,
            max_tokens: Some(16),
        };
        let limits = ReadLimits {
            max_error_body_bytes: 1024,
            ..ReadLimits::default()
        };
        // A deadline so a regression fails instead of hanging; it is not a speed target.
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            open_stream(&reqwest::Client::new(), &provider(endpoint), &req, limits),
        )
        .await
        .expect("the error body is not read to its (missing) end");
        match result {
            Err(OpenError::Status {
                status, message, ..
            }) => {
                assert_eq!(status, 500);
                assert!(message.len() <= 1024, "{}", message.len());
            }
            Err(other) => panic!("expected a status error, got {other}"),
            Ok(_) => panic!("expected a status error, got a stream"),
        }
    }
}
