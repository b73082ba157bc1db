//! Drives one provider stream to its end, whatever its followers do: tokens into the
//! answer's buffer, then the exchange stored (settling the budget reservation), then the
//! final event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{info, warn};
use uuid::Uuid;

use super::answers::AnswerBuffer;
use super::cost::cost_usd;
use super::events::{
    AnswerMessage, BudgetView, ChatEvent, Citation, CompleteData, ErrorData, UsageView,
};
use super::gateway::{Delta, OpenChat};
use super::in_flight::InFlightPermit;
use super::service::ChatService;
use super::types::Usage;
use crate::conversations::{self, Exchange, NewConversation, Reservation, Settle};
use crate::knowledge::SearchHit;

pub(crate) struct Relay {
    pub service: ChatService,
    pub user: Uuid,
    pub conversation_id: Uuid,
    /// The conversation to store first, for a first message.
    pub create: Option<NewConversation>,
    pub question: String,
    pub hits: Vec<SearchHit>,
    pub overhead: Duration,
    pub reservation: Reservation,
    pub task_type: &'static str,
    pub answer: Arc<AnswerBuffer>,
    /// The user's place among answers in flight, freed when the relay ends.
    pub _permit: InFlightPermit,
}

/// Ends the answer however the relay ends, a panic included, so no follower waits forever,
/// and gives back a reservation that was not settled.
struct FinishGuard {
    answer: Arc<AnswerBuffer>,
    service: ChatService,
    reservation: Option<Uuid>,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if !self.answer.is_finished() {
            self.answer.push(ChatEvent::failure(
                "the answer stopped unexpectedly; see the console's log",
            ));
        }
        self.service
            .inner
            .budgets
            .release(self.answer.owner, self.reservation.take());
    }
}

enum Ending {
    Complete { usage: Usage, finish_reason: String },
    Truncated { usage: Usage, reason: String },
}

fn citations(hits: &[SearchHit]) -> Vec<Citation> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| Citation {
            n: i + 1,
            document_id: h.document_id,
            document_name: h.document_name.clone(),
            url: h.source_url.clone(),
            chunk_index: h.chunk_index,
            similarity: h.similarity,
        })
        .collect()
}

impl Relay {
    /// Passes tokens to the buffer until the provider finishes or the stream is cut.
    async fn relay(&self, open: &mut OpenChat) -> Ending {
        loop {
            match open.next().await {
                Some(Delta::Token(token)) => {
                    // PostgreSQL text cannot hold NUL; nothing a person reads is lost.
                    let token = if token.contains('\0') {
                        token.replace('\0', "")
                    } else {
                        token
                    };
                    self.answer.push(ChatEvent::token(token));
                }
                Some(Delta::Done {
                    finish_reason,
                    usage,
                    ..
                }) => {
                    return Ending::Complete {
                        usage,
                        finish_reason,
                    };
                }
                Some(Delta::Truncated {
                    reason,
                    usage_estimate,
                }) => {
                    return Ending::Truncated {
                        usage: usage_estimate,
                        reason,
                    };
                }
                None => {
                    return Ending::Truncated {
                        usage: Usage::default(),
                        reason: "the provider stream ended".into(),
                    };
                }
            }
        }
    }

    pub async fn run(self, mut open: OpenChat) {
        let inner = self.service.inner.clone();
        let mut guard = FinishGuard {
            answer: self.answer.clone(),
            service: self.service.clone(),
            reservation: self.reservation.id,
        };
        let started = Instant::now();
        // A new conversation is stored while the first tokens are relayed, not before them.
        let create = async {
            match &self.create {
                Some(new) => conversations::create(&inner.db, self.user, new.clone())
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let (created, ending) = tokio::join!(create, self.relay(&mut open));
        let provider = open.provider.name.clone();
        let namespace = open.provider.namespace.clone();
        let provider_id = open.provider.id;
        let model = open.model.clone();
        drop(open);
        let (usage, truncated, note) = match &ending {
            Ending::Complete {
                usage,
                finish_reason,
            } => (*usage, false, finish_reason.clone()),
            Ending::Truncated { usage, reason } => (*usage, true, reason.clone()),
        };
        // A cut answer is not billed: its cost stays 0.
        let cost = if truncated {
            0.0
        } else {
            cost_usd(&model, usage)
        };
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let citations = citations(&self.hits);
        let error = truncated.then(|| format!("answer cut off mid-stream: {note}"));
        // The one copy of the answer is its token events; this one lives until stored.
        let content = self.answer.text();
        let stored = match created {
            Ok(()) => {
                let exchange = Exchange {
                    user_id: self.user,
                    conversation_id: self.conversation_id,
                    user_message: &self.question,
                    answer: &content,
                    provider_id: Some(provider_id),
                    provider: &provider,
                    model: &model.name,
                    input_tokens: i32::try_from(usage.prompt_tokens).unwrap_or(i32::MAX),
                    output_tokens: i32::try_from(usage.completion_tokens).unwrap_or(i32::MAX),
                    cost_usd: cost,
                    latency_ms,
                    truncated,
                    error: error.as_deref(),
                    citations: serde_json::to_value(&citations).unwrap_or_default(),
                    task_type: self.task_type,
                    now: Utc::now(),
                };
                let settle = self.reservation.id.map(|reservation| Settle {
                    reservation,
                    origin: inner.origin,
                });
                conversations::record_exchange_settling(&inner.db, &exchange, settle).await
            }
            Err(e) => Err(e),
        };
        inner
            .observer
            .answered(&namespace, &provider, &model.name, truncated, cost);
        let message_id = match stored {
            Ok((_, assistant)) => {
                guard.reservation = None;
                inner.budgets.settled(self.user, cost);
                Some(assistant)
            }
            Err(e) => {
                warn!(error = %e, "storing the exchange failed");
                None
            }
        };
        if let Err(e) = conversations::refresh_summary(
            &inner.db,
            self.user,
            self.conversation_id,
            inner.settings.keep_last_messages,
        )
        .await
        {
            warn!(error = %e, "refreshing the conversation summary failed");
        }
        let usage = UsageView {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total(),
            cost,
        };
        let message = AnswerMessage {
            id: message_id,
            conversation_id: self.conversation_id,
            role: "assistant".into(),
            content,
            provider: provider.clone(),
            model: model.name.clone(),
            truncated,
            citations,
        };
        let event = if truncated {
            info!(%provider, reason = %note, "answer truncated");
            ChatEvent::Error(Box::new(ErrorData {
                error: format!(
                    "the answer from {provider} was cut off mid-stream and is incomplete ({note}); it was not billed"
                ),
                truncated: Some(true),
                message: Some(message),
                usage: Some(usage),
                conversation_id: Some(self.conversation_id),
            }))
        } else if message_id.is_none() {
            ChatEvent::Error(Box::new(ErrorData {
                error: "the answer could not be stored; see the console's log".into(),
                truncated: None,
                message: Some(message),
                usage: Some(usage),
                conversation_id: None,
            }))
        } else {
            ChatEvent::Complete(Box::new(CompleteData {
                message,
                usage,
                conversation_id: self.conversation_id,
                provider: provider.clone(),
                model: model.name.clone(),
                overhead_ms: self.overhead.as_secs_f64() * 1000.0,
                budget: BudgetView::from(self.reservation.state),
            }))
        };
        self.answer.push(event);
    }
}
