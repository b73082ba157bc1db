//! `POST /api/javari/chat` (Server-Sent Events), the chat page, and its send/stream pair.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use futures::StreamExt;
use javari_core::chat::Started;
use javari_core::chat::events::ChatEvent;
use javari_core::conversations::{self, StoredMessage};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, Role};
use crate::chat::{ChatInput, chat_error, follow_error};
use crate::error::{ApiError, PageError};
use crate::metrics::Received;

/// The console's own time before the provider was called, in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-javari-overhead-ms";

/// One Server-Sent Event of an answer, as the OpenAPI document describes the stream (before
/// OpenAPI 3.2, a stream's schema describes each event).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AnswerEvent {
    /// A JSON event: `{"type": "token", "data": {"token": …}}` for each piece of the answer,
    /// then `{"type": "complete", "data": {"message": …}}` or `{"type": "error", …}`.
    data: String,
    /// The SSE event name: always the default, `message`.
    event: Option<String>,
}

/// The answer's typed events as SSE `data:` lines of JSON.
fn sse(events: impl futures::Stream<Item = Arc<ChatEvent>> + Send + 'static) -> impl IntoResponse {
    let events = events.map(|event| {
        let json = serde_json::to_string(&*event).unwrap_or_else(|_| {
            r#"{"type":"error","data":{"error":"an event could not be encoded"}}"#.to_owned()
        });
        Ok::<_, Infallible>(Event::default().data(json))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Starts an answer for the signed-in user. The user was looked up by the auth middleware
/// (the seam where an in-memory session/token cache removes that database round trip).
async fn start(
    state: &AppState,
    current: &CurrentUser,
    input: ChatInput,
    received: Instant,
) -> Result<Started, ApiError> {
    let ask = input.into_ask()?;
    state
        .chat
        .start(current.user.id, ask, received)
        .await
        .map_err(chat_error)
}

/// `POST /api/javari/chat`: answers with an SSE stream of `token` events and a final
/// `complete` (or `error`) event. Failures before the first token are plain 4xx/5xx answers.
#[utoipa::path(post, path = "/api/javari/chat", tag = "chat",
    request_body = ChatInput,
    responses((status = 200, description = "Server-Sent Events: `data:` lines of JSON events (`token`, then `complete` or `error`)",
        content_type = "text/event-stream", body = AnswerEvent)))]
pub async fn api_chat(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    received: Option<Extension<Received>>,
    ApiJson(input): ApiJson<ChatInput>,
) -> Result<Response, ApiError> {
    let received = received.map_or_else(Instant::now, |r| r.0.0);
    let started = start(&state, &current, input, received).await?;
    let mut response = sse(started.answer.subscribe()).into_response();
    let overhead = format!("{:.3}", started.overhead.as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&overhead) {
        response.headers_mut().insert(OVERHEAD_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&started.conversation_id.to_string()) {
        response.headers_mut().insert("x-javari-conversation-id", v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct SendForm {
    message: String,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    include_knowledge: Option<String>,
}

/// `POST /chat/send` from the chat page. With JavaScript (`Accept: application/json`) it
/// answers the stream's id for an EventSource; without, it waits for the answer and shows
/// the conversation.
pub async fn send(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    headers: HeaderMap,
    received: Option<Extension<Received>>,
    Form(form): Form<SendForm>,
) -> Result<Response, ApiError> {
    let received = received.map_or_else(Instant::now, |r| r.0.0);
    let conversation_id = match form.conversation_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(
            id.parse::<Uuid>()
                .map_err(|_| ApiError::bad_request("conversation_id is not a UUID"))?,
        ),
    };
    let input = ChatInput {
        message: form.message,
        conversation_id,
        model: form.model,
        include_knowledge: Some(form.include_knowledge.is_some()),
        ..Default::default()
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let started = start(&state, &current, input, received).await?;
    if wants_json {
        return Ok(Json(json!({
            "streamId": started.stream_id,
            "conversationId": started.conversation_id,
        }))
        .into_response());
    }
    let conversation = started.conversation_id;
    started.answer.wait().await;
    Ok(Redirect::to(&format!("/chat?c={conversation}")).into_response())
}

/// `GET /chat/streams/{id}`: the EventSource side of `/chat/send`, served by any replica
/// (from memory on the one relaying the answer, from PostgreSQL on the others).
pub async fn stream(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let events = state
        .chat
        .follow(id, current.user.id)
        .await
        .map_err(follow_error)?;
    Ok(sse(events).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "chat.html")]
struct ChatPage {
    user: crate::auth::User,
    csrf: String,
    can_chat: bool,
    conversation_id: String,
    title: String,
    messages: Vec<MessageView>,
    models: Vec<String>,
}

/// A stored message and the sources its answer cited, as `[n] document` labels.
struct MessageView {
    m: StoredMessage,
    sources: Vec<String>,
    /// An answer's Markdown as sanitized HTML (empty for the user's own messages).
    html: String,
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> Self {
        let sources = m
            .citations
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| {
                        format!(
                            "[{}] {}",
                            c["n"],
                            c["documentName"].as_str().unwrap_or("document")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let html = if m.role == "assistant" {
            crate::markdown::render(&m.content)
        } else {
            String::new()
        };
        MessageView { m, sources, html }
    }
}

#[derive(Deserialize)]
pub struct ChatQuery {
    c: Option<Uuid>,
}

/// `GET /chat`: the conversation `c` (or a new one) and the message box.
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(q): Query<ChatQuery>,
) -> Result<Response, PageError> {
    let (title, messages) = match q.c {
        Some(id) => {
            let conversation = conversations::get(&state.db, current.user.id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("conversation"))?;
            let messages =
                conversations::messages(&state.db, current.user.id, id, 200, None).await?;
            (conversation.title, messages)
        }
        None => ("New conversation".to_owned(), Vec::new()),
    };
    let mut models: Vec<String> = state
        .directory
        .providers()
        .await
        .map(|ps| {
            ps.iter()
                .flat_map(|p| {
                    p.models
                        .iter()
                        .filter(|m| {
                            !m.capabilities
                                .iter()
                                .all(|c| *c == javari_crds::provider::Capability::Embeddings)
                        })
                        .map(|m| m.name.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    models.sort();
    models.dedup();
    Ok(ChatPage {
        can_chat: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        conversation_id: q.c.map(|c| c.to_string()).unwrap_or_default(),
        title,
        messages: messages.into_iter().map(MessageView::from).collect(),
        models,
    }
    .into_response())
}

/// Unknown paths.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such page or API route"})),
    )
        .into_response()
}
