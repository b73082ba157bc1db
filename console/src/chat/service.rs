//! One chat exchange: validate, budget, conversation, context and knowledge, route, open the
//! provider stream (fallback happens here, before anything is sent), then a task relays the
//! tokens into a [`StreamBuffer`] and stores the exchange whatever the browser does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::Utc;
use javari_core::chat::{
    ChatMessage, Delta, OpenChat, Role, RouteError, Usage, classify, cost_usd, estimate_tokens,
};
use javari_core::conversations::{self, BudgetState, Exchange, NewConversation};
use javari_core::knowledge::SearchHit;
use serde_json::{Value, json};
use tracing::{Instrument, info, info_span, warn};
use uuid::Uuid;

use super::input::ChatInput;
use super::streams::{ChatStreams, StreamBuffer};
use crate::AppState;
use crate::auth::User;
use crate::error::ApiError;
use crate::retrieval::{Retrieval, retrieve};

/// Knowledge chunks added to the prompt at most.
const KNOWLEDGE_LIMIT: i64 = 3;

const SYSTEM_PROMPT: &str = "You are Javari, the assistant of an AI platform's on-call engineers. \
Answer precisely and say when you are unsure.";

/// An answer that has started: its first token is in hand.
pub struct Started {
    pub stream_id: Uuid,
    pub conversation_id: Uuid,
    pub buffer: Arc<StreamBuffer>,
    /// Time the console spent before calling the provider, from the request's arrival
    /// (sign-in check included).
    pub overhead: Duration,
}

pub async fn start(
    state: &AppState,
    user: &User,
    mut input: ChatInput,
    received: Instant,
) -> Result<Started, ApiError> {
    input.validate()?;
    let db = &state.db;
    let providers = state
        .directory
        .providers()
        .await
        .map_err(|e| ApiError::internal("cannot load the providers", e))?;

    // Independent reads, concurrently: budget, the conversation (or its parent), knowledge.
    let include_knowledge = input.include_knowledge.unwrap_or(true);
    let budget = async {
        let budget =
            conversations::monthly_budget(db, user.id, state.settings.monthly_budget_usd).await?;
        let spent = match budget {
            Some(_) => conversations::month_spend(db, user.id, Utc::now()).await?,
            None => 0.0,
        };
        Ok::<_, conversations::ConversationError>(conversations::budget_state(spent, budget))
    };
    let existing = async {
        match input.conversation_id {
            Some(id) => {
                let conversation = conversations::get(db, user.id, id)
                    .await?
                    .ok_or(conversations::ConversationError::NotFound)?;
                let context =
                    conversations::context(db, id, state.settings.keep_last_messages).await?;
                Ok(Some((conversation, context)))
            }
            None => Ok::<_, conversations::ConversationError>(None),
        }
    };
    let hits = async {
        if !include_knowledge {
            return Ok(Vec::new());
        }
        retrieve(
            state,
            user.id,
            Retrieval {
                query: &input.message,
                threshold: None,
                limit: KNOWLEDGE_LIMIT,
                project_id: input.project_id,
            },
        )
        .await
    };
    let (budget, existing, hits) = tokio::join!(budget, existing, hits);
    let budget = budget?;
    if let BudgetState::Exceeded { spent, budget } = budget {
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            format!(
                "monthly AI budget reached: ${spent:.2} of ${budget:.2} spent; ask an admin to raise it"
            ),
        ));
    }
    let existing = existing?;
    if existing.is_none()
        && let Some(project) = input.project_id
    {
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM javari_projects WHERE id = $1)")
                .bind(project)
                .fetch_one(db)
                .await?;
        if !known {
            return Err(ApiError::bad_request(format!(
                "project {project} does not exist"
            )));
        }
    }
    let hits = hits?;

    let mut messages = vec![ChatMessage::new(
        Role::System,
        system_prompt(
            existing.as_ref().and_then(|(_, c)| c.summary.as_deref()),
            &hits,
        ),
    )];
    if let Some((_, context)) = &existing {
        for m in &context.recent {
            let role = match m.role.as_str() {
                "assistant" => Role::Assistant,
                "system" => Role::System,
                _ => Role::User,
            };
            messages.push(ChatMessage::new(role, m.content.clone()));
        }
    }
    messages.push(ChatMessage::new(Role::User, input.message.clone()));
    let context_tokens: usize = messages
        .iter()
        .map(|m| estimate_tokens(&m.content) as usize)
        .sum();

    let candidates = state
        .gateway
        .plan(
            &providers,
            input.model.as_deref(),
            &input.message,
            context_tokens,
        )
        .map_err(|e| match e {
            RouteError::UnknownModel(model) => ApiError::bad_request(format!(
                "unknown model {model:?}; available: {}",
                known_models(&providers)
            )),
            other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        })?;
    let task_type = classify(&input.message, context_tokens).as_str();

    let overhead = received.elapsed();
    let temperature = input.temperature.unwrap_or(0.7);
    let open = match state.gateway.open(candidates, messages, temperature).await {
        Ok(open) => open,
        Err(failed) => {
            state.metrics.chat_failed();
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("no provider could answer: {failed}"),
            ));
        }
    };
    // Once per provider left behind: a provider retried before it answered was not left,
    // and one retried before it was left counts once. Attempts name providers
    // `namespace/name`; metrics use the name, like every other label.
    let answered = format!("{}/{}", open.provider.namespace, open.provider.name);
    let mut left: Vec<&str> = open
        .attempts
        .iter()
        .filter(|a| a.provider != answered)
        .map(|a| a.provider.rsplit('/').next().unwrap_or(&a.provider))
        .collect();
    left.dedup();
    for name in left {
        state.metrics.chat_fallback(name);
    }

    // Nothing is written before a provider answers: a new conversation is stored by the
    // relay under the id handed out now.
    let (conversation_id, create) = match &existing {
        Some((c, _)) => (c.id, None),
        None => {
            let id = Uuid::new_v4();
            let new = NewConversation {
                id: Some(id),
                title: None,
                project_id: input.project_id,
                parent_id: None,
            };
            (id, Some(new))
        }
    };
    let (stream_id, buffer) = state.streams.open(user.id, conversation_id);
    let relay = Relay {
        state: state.clone(),
        user: user.clone(),
        conversation_id,
        create,
        question: input.message,
        hits,
        overhead,
        budget,
        task_type,
        stream_id,
        buffer: buffer.clone(),
    };
    let span = info_span!("chat.relay", %conversation_id, provider = %open.provider.name, model = %open.model.name);
    tokio::spawn(relay.run(open).instrument(span));
    Ok(Started {
        stream_id,
        conversation_id,
        buffer,
        overhead,
    })
}

fn known_models(providers: &[javari_core::chat::ProviderEntry]) -> String {
    let mut names: Vec<&str> = providers
        .iter()
        .flat_map(|p| p.models.iter().map(|m| m.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "none (no Provider is configured)".to_owned()
    } else {
        names.join(", ")
    }
}

fn system_prompt(summary: Option<&str>, hits: &[SearchHit]) -> String {
    let mut prompt = SYSTEM_PROMPT.to_owned();
    if let Some(summary) = summary {
        prompt.push_str("\n\nEarlier in this conversation:\n");
        prompt.push_str(summary);
    }
    if !hits.is_empty() {
        prompt.push_str("\n\nUse these sources where they help and cite them as [1], [2], ...:\n");
        for (i, hit) in hits.iter().enumerate() {
            prompt.push_str(&format!(
                "[{}] {}: {}\n",
                i + 1,
                hit.document_name,
                hit.content
            ));
        }
    }
    prompt
}

fn citations(hits: &[SearchHit]) -> Value {
    Value::Array(
        hits.iter()
            .enumerate()
            .map(|(i, h)| {
                json!({
                    "n": i + 1,
                    "documentId": h.document_id,
                    "documentName": h.document_name,
                    "url": h.source_url,
                    "chunkIndex": h.chunk_index,
                    "similarity": h.similarity,
                })
            })
            .collect(),
    )
}

/// Drives the provider stream to its end and stores the exchange.
struct Relay {
    state: AppState,
    user: User,
    conversation_id: Uuid,
    /// The conversation to store first, for a first message.
    create: Option<NewConversation>,
    question: String,
    hits: Vec<SearchHit>,
    overhead: Duration,
    budget: BudgetState,
    task_type: &'static str,
    stream_id: Uuid,
    buffer: Arc<StreamBuffer>,
}

/// Ends the answer's stream however the relay ends, a panic included, so no subscriber
/// (nor the no-JavaScript form waiting for the answer) waits forever.
struct FinishGuard {
    streams: ChatStreams,
    stream_id: Uuid,
    buffer: Arc<StreamBuffer>,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if !self.buffer.is_finished() {
            self.buffer.push(
                json!({"type": "error", "data": {"error": "the answer stopped unexpectedly; see the console's log"}})
                    .to_string(),
            );
            self.buffer.finish();
        }
        self.streams.expire_later(self.stream_id);
    }
}

enum Ending {
    Complete { usage: Usage, finish_reason: String },
    Truncated { usage: Usage, reason: String },
}

impl Relay {
    /// Passes tokens to the buffer until the provider finishes or the stream is cut.
    async fn relay(&self, open: &mut OpenChat) -> (String, Ending) {
        let mut answer = String::new();
        let ending = loop {
            match open.next().await {
                Some(Delta::Token(token)) => {
                    self.buffer
                        .push(json!({"type": "token", "data": {"token": token}}).to_string());
                    // PostgreSQL text cannot hold NUL; nothing a person reads is lost.
                    answer.extend(token.chars().filter(|c| *c != '\0'));
                }
                Some(Delta::Done {
                    finish_reason,
                    usage,
                    ..
                }) => {
                    break Ending::Complete {
                        usage,
                        finish_reason,
                    };
                }
                Some(Delta::Truncated {
                    reason,
                    usage_estimate,
                }) => {
                    break Ending::Truncated {
                        usage: usage_estimate,
                        reason,
                    };
                }
                None => {
                    break Ending::Truncated {
                        usage: Usage::default(),
                        reason: "the provider stream ended".into(),
                    };
                }
            }
        };
        (answer, ending)
    }

    async fn run(self, mut open: OpenChat) {
        let _guard = FinishGuard {
            streams: self.state.streams.clone(),
            stream_id: self.stream_id,
            buffer: self.buffer.clone(),
        };
        let started = Instant::now();
        // A new conversation is stored while the first tokens are relayed, not before them.
        let create = async {
            match &self.create {
                Some(new) => conversations::create(&self.state.db, self.user.id, new.clone())
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let (created, (answer, ending)) = tokio::join!(create, self.relay(&mut open));
        let provider = open.provider.name.clone();
        let model = open.model.clone();
        let (usage, truncated, note) = match &ending {
            Ending::Complete {
                usage,
                finish_reason,
            } => (*usage, false, finish_reason.clone()),
            Ending::Truncated { usage, reason } => (*usage, true, reason.clone()),
        };
        // A cut answer is not billed as complete: its cost stays 0.
        let cost = if truncated {
            0.0
        } else {
            cost_usd(&model, usage)
        };
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let citations = citations(&self.hits);
        let error = truncated.then(|| format!("answer cut off mid-stream: {note}"));
        let exchange = Exchange {
            user_id: self.user.id,
            conversation_id: self.conversation_id,
            user_message: &self.question,
            answer: &answer,
            provider_id: Some(open.provider.id),
            provider: &provider,
            model: &model.name,
            input_tokens: i32::try_from(usage.prompt_tokens).unwrap_or(i32::MAX),
            output_tokens: i32::try_from(usage.completion_tokens).unwrap_or(i32::MAX),
            cost_usd: cost,
            latency_ms,
            truncated,
            error: error.as_deref(),
            citations: citations.clone(),
            task_type: self.task_type,
            now: Utc::now(),
        };
        let stored = match created {
            Ok(()) => conversations::record_exchange(&self.state.db, &exchange).await,
            Err(e) => Err(e),
        };
        self.state
            .metrics
            .chat_finished(&provider, &model.name, truncated, cost);
        let message_id = match stored {
            Ok((_, assistant)) => Some(assistant),
            Err(e) => {
                warn!(error = %e, "storing the exchange failed");
                None
            }
        };
        if let Err(e) = conversations::refresh_summary(
            &self.state.db,
            self.conversation_id,
            self.state.settings.keep_last_messages,
        )
        .await
        {
            warn!(error = %e, "refreshing the conversation summary failed");
        }
        let usage_json = json!({
            "promptTokens": usage.prompt_tokens,
            "completionTokens": usage.completion_tokens,
            "totalTokens": usage.total(),
            "cost": cost,
        });
        let message = json!({
            "id": message_id,
            "conversationId": self.conversation_id,
            "role": "assistant",
            "content": answer,
            "provider": provider,
            "model": model.name,
            "truncated": truncated,
            "citations": citations,
        });
        let overhead_ms = self.overhead.as_secs_f64() * 1000.0;
        let budget = budget_json(&self.budget);
        let event = if truncated {
            info!(%provider, reason = %note, "answer truncated");
            json!({"type": "error", "data": {
                "error": format!("the answer from {provider} was cut off mid-stream and is incomplete ({note}); it was not billed"),
                "truncated": true,
                "message": message,
                "usage": usage_json,
                "conversationId": self.conversation_id,
            }})
        } else if message_id.is_none() {
            json!({"type": "error", "data": {
                "error": "the answer could not be stored; see the console's log",
                "message": message,
                "usage": usage_json,
            }})
        } else {
            json!({"type": "complete", "data": {
                "message": message,
                "usage": usage_json,
                "conversationId": self.conversation_id,
                "provider": provider,
                "model": model.name,
                "overheadMs": overhead_ms,
                "budget": budget,
            }})
        };
        self.buffer.push(event.to_string());
        self.buffer.finish();
    }
}

fn budget_json(state: &BudgetState) -> Value {
    match state {
        BudgetState::Unlimited => json!({"state": "unlimited"}),
        BudgetState::Ok { spent, budget } => {
            json!({"state": "ok", "spent": spent, "budget": budget})
        }
        BudgetState::Warning { spent, budget } => json!({
            "state": "warning", "spent": spent, "budget": budget,
            "warning": format!("${spent:.2} of your ${budget:.2} monthly budget is spent"),
        }),
        BudgetState::Exceeded { spent, budget } => {
            json!({"state": "exceeded", "spent": spent, "budget": budget})
        }
    }
}
