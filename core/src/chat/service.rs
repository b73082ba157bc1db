//! The chat exchange as one service: budget, conversation context, knowledge, routing, the
//! provider stream and its relay, storage. It emits typed [`ChatEvent`]s into an
//! [`AnswerBuffer`] (published for every replica); callers only translate to HTTP.
//!
//! Path to the first token: the in-flight limit and the budget known in memory, the
//! provider list from memory, then (for a follow-up or with knowledge) the context reads,
//! then the provider request, with the budget reservation running alongside it. Every row
//! is written by the relay task, off that path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tracing::{Instrument, info_span};
use uuid::Uuid;

use super::answers::{AnswerBuffer, AnswerHub, FollowError};
use super::budgets::BudgetBook;
use super::cost::estimate_tokens;
use super::directory::ProviderDirectory;
use super::events::ChatEvent;
use super::gateway::Gateway;
use super::in_flight::InFlight;
use super::relay::Relay;
use super::retrieval::prompt_knowledge;
use super::routing::{Candidate, classify};
use super::types::{ChatMessage, ProviderEntry, Role};
use super::watch::{Watched, watch};
use super::{DirectoryError, RouteError};
use crate::conversations::{self, ConversationError, NewConversation, Reservation, ReserveError};
use crate::knowledge::SearchHit;

const SYSTEM_PROMPT: &str = "You are Javari, the assistant of an AI platform's on-call engineers. \
Answer precisely and say when you are unsure.";

/// What the chat service's behaviour depends on.
#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// Messages sent with each request besides the stored summary.
    pub keep_last_messages: usize,
    /// Default monthly budget per user, US dollars; `None`: unlimited.
    pub monthly_budget_usd: Option<f64>,
    /// Answers one user may have streaming at once in one console.
    pub max_answers_in_flight_per_user: usize,
    /// Knowledge chunks added to a prompt at most.
    pub knowledge_limit: i64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            keep_last_messages: 20,
            monthly_budget_usd: None,
            max_answers_in_flight_per_user: 4,
            knowledge_limit: 3,
        }
    }
}

/// What the service reports for metrics (the console implements it).
pub trait ChatObserver: Send + Sync + 'static {
    /// An answer from Provider `namespace/provider`, cut short when `truncated`.
    fn answered(
        &self,
        namespace: &str,
        provider: &str,
        model: &str,
        truncated: bool,
        cost_usd: f64,
    );
    /// Provider `namespace/provider` failed and a lower-priority one was tried.
    fn fell_back(&self, namespace: &str, provider: &str);
    fn unanswered(&self);
}

/// An observer that records nothing.
pub struct NoObserver;

impl ChatObserver for NoObserver {
    fn answered(&self, _: &str, _: &str, _: &str, _: bool, _: f64) {}
    fn fell_back(&self, _: &str, _: &str) {}
    fn unanswered(&self) {}
}

/// A question, validated by the caller.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    pub message: String,
    pub conversation_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub model: Option<String>,
    pub temperature: Option<f32>,
    pub include_knowledge: bool,
}

/// Why an answer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("conversation not found (or it belongs to another user)")]
    ConversationNotFound,
    #[error("project {0} does not exist")]
    UnknownProject(Uuid),
    #[error("unknown model {model:?}; available: {available}")]
    UnknownModel { model: String, available: String },
    #[error("{0}")]
    NoProviders(String),
    #[error("{0}")]
    BudgetExceeded(String),
    #[error("you already have {limit} answers in progress; wait for one to finish and send again")]
    TooManyInFlight { limit: usize },
    #[error("no provider could answer: {0}")]
    AllFailed(String),
    #[error("{context}: {detail}")]
    Internal {
        context: &'static str,
        detail: String,
    },
}

impl ChatError {
    fn internal(context: &'static str, detail: impl std::fmt::Display) -> Self {
        ChatError::Internal {
            context,
            detail: detail.to_string(),
        }
    }
}

impl From<ConversationError> for ChatError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::NotFound => ChatError::ConversationNotFound,
            ConversationError::UnknownProject(p) => ChatError::UnknownProject(p),
            other => ChatError::internal("conversation lookup failed", other),
        }
    }
}

impl From<DirectoryError> for ChatError {
    fn from(e: DirectoryError) -> Self {
        ChatError::internal("cannot load the providers", e)
    }
}

/// An answer that has started: its first token is in hand.
pub struct Started {
    pub stream_id: Uuid,
    pub conversation_id: Uuid,
    pub answer: Arc<AnswerBuffer>,
    /// The console's own time before the provider was called, from the request's arrival.
    pub overhead: Duration,
}

#[derive(Clone)]
pub struct ChatService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub db: PgPool,
    pub directory: Arc<ProviderDirectory>,
    pub gateway: Gateway,
    pub settings: ChatSettings,
    pub observer: Arc<dyn ChatObserver>,
    pub budgets: BudgetBook,
    pub hub: AnswerHub,
    pub in_flight: InFlight,
    pub origin: Uuid,
}

impl ChatService {
    /// Starts the notification listener on the current Tokio runtime.
    pub fn new(
        db: PgPool,
        directory: Arc<ProviderDirectory>,
        gateway: Gateway,
        settings: ChatSettings,
        observer: Arc<dyn ChatObserver>,
    ) -> Self {
        let config = gateway.config().clone();
        // A reservation outlives any answer: its first token, its whole duration, storing.
        let hold =
            config.first_token_timeout * 2 + config.max_answer_duration + Duration::from_secs(60);
        let budgets = BudgetBook::new(db.clone(), settings.monthly_budget_usd, hold);
        let hub = AnswerHub::new(
            db.clone(),
            config.idle_timeout.max(Duration::from_secs(5)) * 2,
        );
        let origin = Uuid::new_v4();
        let service = ChatService {
            inner: Arc::new(Inner {
                in_flight: InFlight::new(settings.max_answers_in_flight_per_user.max(1)),
                db: db.clone(),
                directory: directory.clone(),
                gateway,
                settings,
                observer,
                budgets: budgets.clone(),
                hub: hub.clone(),
                origin,
            }),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(watch(
                db,
                Watched {
                    hub,
                    budgets,
                    directory,
                    origin,
                },
            ));
        }
        service
    }

    /// Answers held in this console's memory (streaming, or not yet fully published).
    pub fn answers_held(&self) -> usize {
        self.inner.hub.held()
    }

    /// Follows answer `stream_id` of `user` from its first event, on any replica.
    pub async fn follow(
        &self,
        stream_id: Uuid,
        user: Uuid,
    ) -> Result<futures::stream::BoxStream<'static, Arc<ChatEvent>>, FollowError> {
        self.inner.hub.follow(stream_id, user).await
    }

    /// Starts answering `ask` for `user`: returns once the first token is in hand (or the
    /// provider finished at once), with the answer streaming on into [`Started::answer`].
    pub async fn start(
        &self,
        user: Uuid,
        ask: Ask,
        received: Instant,
    ) -> Result<Started, ChatError> {
        let inner = &self.inner;
        let permit = inner
            .in_flight
            .try_acquire(user)
            .ok_or(ChatError::TooManyInFlight {
                limit: inner.in_flight.max_per_user(),
            })?;
        if let Some((spent, budget)) = inner.budgets.known_exceeded(user) {
            return Err(ChatError::BudgetExceeded(format!(
                "monthly AI budget reached: ${spent:.2} of ${budget:.2} spent; ask an admin to raise it"
            )));
        }
        let providers = inner.directory.providers().await?;
        let db = &inner.db;

        let existing = async {
            match ask.conversation_id {
                Some(id) => {
                    let conversation = conversations::get(db, user, id)
                        .await?
                        .ok_or(ConversationError::NotFound)?;
                    let context =
                        conversations::context(db, user, id, inner.settings.keep_last_messages)
                            .await?;
                    Ok(Some((conversation, context)))
                }
                None => Ok::<_, ConversationError>(None),
            }
        };
        let hits = async {
            if !ask.include_knowledge {
                return Ok(Vec::new());
            }
            prompt_knowledge(
                db,
                inner.gateway.http(),
                &providers,
                user,
                &ask.message,
                inner.settings.knowledge_limit,
                ask.project_id,
            )
            .await
        };
        let project_known = async {
            match (ask.conversation_id, ask.project_id) {
                (None, Some(project)) => sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM javari_projects WHERE id = $1)",
                )
                .bind(project)
                .fetch_one(db)
                .await
                .map(|known| (!known).then_some(project)),
                _ => Ok(None),
            }
        };
        let (existing, hits, unknown_project) = tokio::join!(existing, hits, project_known);
        let existing = existing?;
        if let Some(project) =
            unknown_project.map_err(|e| ChatError::internal("project lookup failed", e))?
        {
            return Err(ChatError::UnknownProject(project));
        }
        let hits = hits.map_err(|e| ChatError::internal("knowledge search failed", e))?;

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
        messages.push(ChatMessage::new(Role::User, ask.message.clone()));
        let context_tokens: usize = messages
            .iter()
            .map(|m| estimate_tokens(&m.content) as usize)
            .sum();

        let candidates = inner
            .gateway
            .plan(
                &providers,
                ask.model.as_deref(),
                &ask.message,
                context_tokens,
            )
            .map_err(|e| match e {
                RouteError::UnknownModel(model) => ChatError::UnknownModel {
                    model,
                    available: known_models(&providers),
                },
                other => ChatError::NoProviders(other.to_string()),
            })?;
        let task_type = classify(&ask.message, context_tokens).as_str();
        let estimate = estimate_usd(
            &candidates,
            context_tokens,
            inner.gateway.config().max_answer_tokens,
        );

        let overhead = received.elapsed();
        let temperature = ask.temperature.unwrap_or(0.7);
        let (open, reservation) = self
            .open_and_reserve(user, candidates, messages, temperature, estimate)
            .await?;
        // Once per provider left behind (`namespace/name` in attempts).
        let answered = format!("{}/{}", open.provider.namespace, open.provider.name);
        let mut left: Vec<(&str, &str)> = open
            .attempts
            .iter()
            .filter(|a| a.provider != answered)
            .map(|a| a.provider.split_once('/').unwrap_or(("", &a.provider)))
            .collect();
        left.dedup();
        for (namespace, name) in left {
            inner.observer.fell_back(namespace, name);
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
                    project_id: ask.project_id,
                    parent_id: None,
                };
                (id, Some(new))
            }
        };
        let (stream_id, answer) = inner.hub.open(user, conversation_id);
        let relay = Relay {
            service: self.clone(),
            user,
            conversation_id,
            create,
            question: ask.message,
            hits,
            overhead,
            reservation,
            task_type,
            answer: answer.clone(),
            _permit: permit,
        };
        let span = info_span!("chat.relay", %conversation_id, provider = %open.provider.name, model = %open.model.name);
        tokio::spawn(relay.run(open).instrument(span));
        Ok(Started {
            stream_id,
            conversation_id,
            answer,
            overhead,
        })
    }

    /// The provider request and the budget reservation, side by side. A refused reservation
    /// drops the provider request (its connection closes) and answers 402; a failed
    /// provider gives the reservation back.
    async fn open_and_reserve(
        &self,
        user: Uuid,
        candidates: Vec<Candidate>,
        messages: Vec<ChatMessage>,
        temperature: f32,
        estimate: f64,
    ) -> Result<(super::OpenChat, Reservation), ChatError> {
        let inner = &self.inner;
        let open = inner.gateway.open(candidates, messages, temperature);
        tokio::pin!(open);
        let book = inner.budgets.clone();
        let mut reserve = Box::pin(async move { book.reserve(user, estimate).await });
        let mut opened = None;
        let reservation = loop {
            tokio::select! {
                reserved = &mut reserve => break reserved,
                result = &mut open, if opened.is_none() => match result {
                    Ok(chat) => opened = Some(chat),
                    Err(failed) => {
                        inner.observer.unanswered();
                        let book = inner.budgets.clone();
                        tokio::spawn(async move {
                            if let Ok(r) = reserve.await {
                                book.release(user, r.id);
                            }
                        });
                        return Err(ChatError::AllFailed(failed.to_string()));
                    }
                },
            }
        };
        let reservation = match reservation {
            Ok(r) => r,
            Err(e @ ReserveError::Exceeded { .. }) => {
                return Err(ChatError::BudgetExceeded(e.to_string()));
            }
            Err(e) => return Err(ChatError::internal("cannot check the budget", e)),
        };
        let chat = match opened {
            Some(chat) => chat,
            None => match open.await {
                Ok(chat) => chat,
                Err(failed) => {
                    inner.observer.unanswered();
                    inner.budgets.release(user, reservation.id);
                    return Err(ChatError::AllFailed(failed.to_string()));
                }
            },
        };
        Ok((chat, reservation))
    }
}

/// The most this answer may cost: its prompt and the answer-token limit at the priciest
/// candidate's prices (fallback may pick any of them).
fn estimate_usd(candidates: &[Candidate], prompt_tokens: usize, max_answer_tokens: u32) -> f64 {
    candidates
        .iter()
        .map(|c| {
            (prompt_tokens as f64 * c.model.input_cost_per_1k
                + f64::from(max_answer_tokens) * c.model.output_cost_per_1k)
                / 1000.0
        })
        .fold(0.0, f64::max)
}

fn known_models(providers: &[ProviderEntry]) -> String {
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
