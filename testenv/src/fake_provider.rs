//! A local stand-in for the paid AI APIs we cannot reach from tests: OpenAI, Anthropic and
//! Gemini on one port, each under its own prefix and speaking its real wire format (paths,
//! auth headers, bodies, streamed events, error shapes), with scripted faults.
//!
//! | API | base URL for a Provider | probe | chat (streaming) |
//! | --- | --- | --- | --- |
//! | OpenAI (and compatible) | `{url}/openai/v1` | `GET /models`, `Authorization: Bearer` | `POST /chat/completions`, `POST /embeddings` |
//! | Anthropic | `{url}/anthropic` | `GET /v1/models`, `x-api-key`, `anthropic-version` | `POST /v1/messages` |
//! | Gemini | `{url}/gemini/v1beta` | `GET /models?key=` | `POST /models/{model}:streamGenerateContent?alt=sse` |
//!
//! Replies are deterministic: the tokens `Hello`, ` from`, ` the`, ` fake`, ` <api>`, `.` (or
//! [`FakeProvider::set_reply`]), each its own flushed SSE event; usage counts the input words
//! and the streamed tokens.

mod http1;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::{Error, Result};
use http1::{Chunked, Request, Response};
use wire::Api;

/// What the fake does with the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Healthy,
    /// Answers correctly after a delay (the response headers are late).
    Slow(Duration),
    /// Answers every request with this HTTP status and the API's error body (429 also sends
    /// `retry-after: 1`).
    Status(u16),
    /// Not listening: connections are refused. In a [`FakeProvider::script`], where the port
    /// stays open, the connection is closed without an answer instead.
    Down,
    /// Accepts the request but never sends the response headers.
    Hang,
    /// Chat only: streams this many reply tokens, then ends the body without a finish reason,
    /// `[DONE]` or `message_stop`. Other requests are answered normally. (Gemini's last
    /// token carries the finish reason, so there `n` must be below the reply's length.)
    Truncate(usize),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    api_key: String,
    behaviour: Mutex<Behaviour>,
    script: Mutex<VecDeque<Behaviour>>,
    requests: AtomicU64,
    chat_requests: AtomicU64,
    last_chat_request: Mutex<Option<Value>>,
    reply: Mutex<Option<Vec<String>>>,
    token_delay: Mutex<Duration>,
    usage: Mutex<Option<(u32, u32)>>,
}

pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeProvider {
    /// Starts on a free loopback port; requests must carry `api_key`.
    pub async fn start(api_key: &str) -> Result<FakeProvider> {
        Self::start_at("127.0.0.1:0".parse().expect("a socket address"), api_key).await
    }

    /// Starts on `addr`; requests must carry `api_key`, unless it is empty (a local server
    /// such as Ollama, which needs no key: what `make run` offers to chat with offline).
    pub async fn start_at(addr: SocketAddr, api_key: &str) -> Result<FakeProvider> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Io {
                path: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            path: addr.to_string(),
            source,
        })?;
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            behaviour: Mutex::new(Behaviour::Healthy),
            script: Mutex::default(),
            requests: AtomicU64::new(0),
            chat_requests: AtomicU64::new(0),
            last_chat_request: Mutex::default(),
            reply: Mutex::default(),
            token_delay: Mutex::new(Duration::ZERO),
            usage: Mutex::default(),
        });
        let fake = FakeProvider {
            addr,
            shared,
            server: Mutex::new(None),
        };
        fake.serve(listener);
        Ok(fake)
    }

    /// `http://127.0.0.1:PORT`; append `/openai/v1`, `/anthropic` or `/gemini/v1beta`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far (probes, chat and embeddings).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Chat requests received so far (any API, answered or not).
    pub fn chat_requests(&self) -> u64 {
        self.shared.chat_requests.load(Ordering::SeqCst)
    }

    /// The body of the last chat request; for Gemini with the model from the path under
    /// `"model"`.
    pub fn last_chat_request(&self) -> Option<Value> {
        lock(&self.shared.last_chat_request).clone()
    }

    /// Replaces the default reply tokens.
    pub fn set_reply(&self, tokens: Vec<String>) {
        *lock(&self.shared.reply) = Some(tokens);
    }

    /// Reports these (prompt, completion) token counts instead of counting words and tokens,
    /// so tests can check costs against round, hand-computed figures.
    pub fn set_usage(&self, usage: Option<(u32, u32)>) {
        *lock(&self.shared.usage) = usage;
    }

    /// Pause between two streamed reply tokens.
    pub fn set_token_delay(&self, delay: Duration) {
        *lock(&self.shared.token_delay) = delay;
    }

    /// Queues one-shot behaviours, consumed one per chat request before falling back to the
    /// standing behaviour of [`FakeProvider::set`].
    pub fn script(&self, behaviours: Vec<Behaviour>) {
        lock(&self.shared.script).extend(behaviours);
    }

    /// Changes behaviour; `Down` closes the port, anything else reopens it.
    pub async fn set(&self, behaviour: Behaviour) -> Result<()> {
        *lock(&self.shared.behaviour) = behaviour;
        let running = lock(&self.server).is_some();
        match (behaviour, running) {
            (Behaviour::Down, true) => {
                let task = lock(&self.server).take();
                if let Some(task) = task {
                    task.abort();
                    let _ = task.await;
                }
            }
            (Behaviour::Down, false) | (_, true) => {}
            (_, false) => {
                let listener =
                    tokio::net::TcpListener::bind(self.addr)
                        .await
                        .map_err(|source| Error::Io {
                            path: self.addr.to_string(),
                            source,
                        })?;
                self.serve(listener);
            }
        }
        Ok(())
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, shared.clone()));
            }
        });
        *lock(&self.server) = Some(task);
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.server).take() {
            task.abort();
        }
    }
}

/// How a request is answered.
enum Answer {
    Full(Response),
    Stream {
        frames: wire::Frames,
        limit: Option<usize>,
        delay: Duration,
    },
    Hang,
    Close,
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stream);
    let Ok(Some(request)) = http1::read_request(&mut reader).await else {
        return;
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let answer = route(&shared, &request).await;
    let stream = reader.get_mut();
    let _ = match answer {
        Answer::Full(response) => response.write(stream).await,
        Answer::Stream {
            frames,
            limit,
            delay,
        } => write_stream(stream, frames, limit, delay).await,
        Answer::Hang => {
            std::future::pending::<()>().await;
            Ok(())
        }
        Answer::Close => Ok(()),
    };
}

async fn write_stream(
    stream: &mut TcpStream,
    frames: wire::Frames,
    limit: Option<usize>,
    delay: Duration,
) -> std::io::Result<()> {
    let mut body = Chunked::start(stream, 200, "text/event-stream").await?;
    for frame in &frames.head {
        body.send(frame).await?;
    }
    for (i, token) in frames.tokens.iter().enumerate() {
        if limit.is_some_and(|n| i >= n) {
            return body.finish().await;
        }
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        body.send(token).await?;
    }
    if limit.is_none() {
        for frame in &frames.tail {
            body.send(frame).await?;
        }
    }
    body.finish().await
}

async fn route(shared: &Shared, request: &Request) -> Answer {
    let path = request.path.as_str();
    match (request.method.as_str(), path) {
        ("GET", "/openai/v1/models") => probe(shared, request, Api::OpenAi).await,
        ("GET", "/anthropic/v1/models") => probe(shared, request, Api::Anthropic).await,
        ("GET", "/gemini/v1beta/models") => probe(shared, request, Api::Gemini).await,
        ("POST", "/openai/v1/chat/completions") => chat(shared, request, Api::OpenAi, None).await,
        ("POST", "/anthropic/v1/messages") => chat(shared, request, Api::Anthropic, None).await,
        ("POST", "/openai/v1/embeddings") => embeddings(shared, request).await,
        ("POST", _) if path.starts_with("/gemini/v1beta/models/") => {
            let rest = &path["/gemini/v1beta/models/".len()..];
            match rest.strip_suffix(":streamGenerateContent") {
                Some(model) if !model.is_empty() => {
                    chat(shared, request, Api::Gemini, Some(model)).await
                }
                _ => Answer::Full(wire::error(Api::Gemini, 404, "unknown method")),
            }
        }
        _ => Answer::Full(Response::json(
            404,
            &serde_json::json!({"error": {"message": format!("no route for {} {path}", request.method)}}),
        )),
    }
}

/// Applies a fault; `None` means answer normally.
async fn fault(api: Api, behaviour: Behaviour) -> Option<Answer> {
    match behaviour {
        Behaviour::Status(status) => {
            Some(Answer::Full(wire::error(api, status, "scripted failure")))
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Behaviour::Hang => Some(Answer::Hang),
        Behaviour::Down => Some(Answer::Close),
        Behaviour::Healthy | Behaviour::Truncate(_) => None,
    }
}

/// The checks every API makes before looking at the request: version header, key.
fn authenticate(shared: &Shared, api: Api, request: &Request) -> Option<Answer> {
    if api == Api::Anthropic && request.header("anthropic-version").is_none() {
        return Some(Answer::Full(wire::error(
            api,
            400,
            "anthropic-version header is required",
        )));
    }
    if !shared.api_key.is_empty()
        && wire::presented_key(api, request).as_deref() != Some(shared.api_key.as_str())
    {
        return Some(Answer::Full(wire::error(api, 401, "invalid API key")));
    }
    None
}

async fn probe(shared: &Shared, request: &Request, api: Api) -> Answer {
    let behaviour = *lock(&shared.behaviour);
    if let Some(answer) = fault(api, behaviour).await {
        return answer;
    }
    if let Some(answer) = authenticate(shared, api, request) {
        return answer;
    }
    Answer::Full(Response::json(200, &wire::models(api)))
}

async fn chat(shared: &Shared, request: &Request, api: Api, path_model: Option<&str>) -> Answer {
    shared.chat_requests.fetch_add(1, Ordering::SeqCst);
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    if let Some(body) = &body {
        let mut recorded = body.clone();
        if let (Some(model), Some(obj)) = (path_model, recorded.as_object_mut()) {
            obj.insert("model".into(), Value::String(model.to_owned()));
        }
        *lock(&shared.last_chat_request) = Some(recorded);
    }
    let scripted = lock(&shared.script).pop_front();
    let behaviour = scripted.unwrap_or_else(|| *lock(&shared.behaviour));
    if let Some(answer) = fault(api, behaviour).await {
        return answer;
    }
    if let Some(answer) = authenticate(shared, api, request) {
        return answer;
    }
    if api == Api::Gemini && request.query("alt") != Some("sse") {
        return Answer::Full(wire::error(api, 400, "this fake only streams with alt=sse"));
    }
    let Some(body) = body else {
        return Answer::Full(wire::error(api, 400, "request body is not JSON"));
    };
    let call = match wire::parse_chat(api, &body, path_model) {
        Ok(call) => call,
        Err(message) => return Answer::Full(wire::error(api, 400, &message)),
    };
    let reply = lock(&shared.reply).clone().unwrap_or_else(|| {
        [
            "Hello",
            " from",
            " the",
            " fake",
            &format!(" {}", api.label()),
            ".",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    });
    Answer::Stream {
        frames: wire::frames(api, &call, &reply, *lock(&shared.usage)),
        limit: match behaviour {
            Behaviour::Truncate(n) => Some(n),
            _ => None,
        },
        delay: *lock(&shared.token_delay),
    }
}

async fn embeddings(shared: &Shared, request: &Request) -> Answer {
    let api = Api::OpenAi;
    let behaviour = *lock(&shared.behaviour);
    if let Some(answer) = fault(api, behaviour).await {
        return answer;
    }
    if let Some(answer) = authenticate(shared, api, request) {
        return answer;
    }
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(_) => return Answer::Full(wire::error(api, 400, "request body is not JSON")),
    };
    match wire::embeddings(&body) {
        Ok(answer) => Answer::Full(Response::json(200, &answer)),
        Err(message) => Answer::Full(wire::error(api, 400, &message)),
    }
}
