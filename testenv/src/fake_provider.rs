//! A local stand-in for the paid AI APIs we cannot reach from tests: OpenAI, Anthropic and
//! Gemini on one port, each under its own prefix and speaking its real wire format (paths,
//! auth headers, bodies, error shapes), with scripted faults.
//!
//! | API | base URL for a Provider | probe |
//! | --- | --- | --- |
//! | OpenAI (and compatible) | `{url}/openai/v1` | `GET /models`, `Authorization: Bearer` |
//! | Anthropic | `{url}/anthropic` | `GET /v1/models`, `x-api-key`, `anthropic-version` |
//! | Gemini | `{url}/gemini/v1beta` | `GET /models?key=` |

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::{Error, Result};

/// What the fake does with the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Healthy,
    /// Answers correctly after a delay.
    Slow(Duration),
    /// Answers every request with this HTTP status and the API's error body.
    Status(u16),
    /// Not listening: connections are refused.
    Down,
}

struct Shared {
    api_key: String,
    behaviour: Mutex<Behaviour>,
    requests: AtomicU64,
}

pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
    Gemini,
}

impl FakeProvider {
    /// Starts on a free loopback port; requests must carry `api_key`.
    pub async fn start(api_key: &str) -> Result<FakeProvider> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| Error::Io {
                path: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            behaviour: Mutex::new(Behaviour::Healthy),
            requests: AtomicU64::new(0),
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

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Changes behaviour; `Down` closes the port, anything else reopens it.
    pub async fn set(&self, behaviour: Behaviour) -> Result<()> {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = behaviour;
        let running = self
            .server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        match (behaviour, running) {
            (Behaviour::Down, true) => {
                let task = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
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
        let app = Router::new()
            .route(
                "/openai/v1/models",
                get(|s, h| models(s, h, None, Api::OpenAi)),
            )
            .route(
                "/anthropic/v1/models",
                get(|s, h| models(s, h, None, Api::Anthropic)),
            )
            .route(
                "/gemini/v1beta/models",
                get(
                    |s, h, Query(q): Query<std::collections::HashMap<String, String>>| {
                        models(s, h, q.get("key").cloned(), Api::Gemini)
                    },
                ),
            )
            .with_state(self.shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(task) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

fn presented_key(api: Api, headers: &HeaderMap, query_key: Option<String>) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match api {
        Api::OpenAi => {
            header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        }
        Api::Anthropic => header("x-api-key"),
        Api::Gemini => query_key.or_else(|| header("x-goog-api-key")),
    }
}

/// The API's own error body for `status`.
fn error(api: Api, status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": openai_type(status), "param": null, "code": null}})
        }
        Api::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_type(status), "message": message}})
        }
        Api::Gemini => {
            json!({"error": {"code": status, "message": message, "status": gemini_status(status)}})
        }
    };
    (code, Json(body)).into_response()
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "invalid_request_error",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn gemini_status(status: u16) -> &'static str {
    match status {
        401 | 403 => "UNAUTHENTICATED",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    }
}

async fn models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query_key: Option<String>,
    api: Api,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = *shared.behaviour.lock().unwrap_or_else(|e| e.into_inner());
    match behaviour {
        Behaviour::Status(status) => return error(api, status, "scripted failure"),
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Healthy | Behaviour::Down => {}
    }
    if api == Api::Anthropic && !headers.contains_key("anthropic-version") {
        return error(api, 400, "anthropic-version header is required");
    }
    if presented_key(api, &headers, query_key).as_deref() != Some(shared.api_key.as_str()) {
        return error(api, 401, "invalid API key");
    }
    let body: Value = match api {
        Api::OpenAi => json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}]}),
        Api::Anthropic => json!({"data": [
            {"type": "model", "id": "claude-3-5-sonnet-20241022", "display_name": "Claude 3.5 Sonnet", "created_at": "2024-10-22T00:00:00Z"}],
            "has_more": false, "first_id": "claude-3-5-sonnet-20241022", "last_id": "claude-3-5-sonnet-20241022"}),
        Api::Gemini => json!({"models": [
            {"name": "models/gemini-1.5-flash", "displayName": "Gemini 1.5 Flash", "inputTokenLimit": 1_048_576,
             "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent", "countTokens"]}]}),
    };
    Json(body).into_response()
}
