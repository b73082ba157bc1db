//! A chat call as the gateway hands it to a client, and what a client streams back.

use serde_json::Value;

use super::types::{ChatMessage, Usage};

/// One chat completion request for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: f32,
    pub max_tokens: Option<u32>,
}

/// An event of a provider's stream, in the same shape for every API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// A piece of the answer's text.
    Token(String),
    /// The provider finished (`stop`, `end_turn`, `STOP`, `length`, ...); usage if reported.
    Finish {
        reason: String,
        usage: Option<Usage>,
    },
}

/// What the OpenAI and Gemini decoders keep until their stream ends: the finish reason and
/// the usage, which may arrive in different events, and whether `Finish` was given.
#[derive(Debug, Default)]
pub(super) struct Ending {
    pub finish: Option<String>,
    pub usage: Option<Usage>,
    pub done: bool,
}

impl Ending {
    /// The `Finish` event, if the provider gave a finish reason; at most once.
    pub fn end(&mut self) -> Option<StreamEvent> {
        if self.done {
            return None;
        }
        self.done = true;
        let reason = self.finish.take()?;
        Some(StreamEvent::Finish {
            reason,
            usage: self.usage,
        })
    }
}

/// The message of an error body. OpenAI (`{"error":{"message":..}}`), Anthropic
/// (`{"type":"error","error":{"message":..}}`) and Gemini (`{"error":{"code":..,"message":..}}`)
/// all nest it the same way; without a message, the whole `error` object. Trimmed by
/// [`super::error::upstream_text`]: never repeated raw.
pub(super) fn error_message(value: &Value) -> Option<String> {
    let error = value.get("error")?;
    let raw = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    Some(super::error::upstream_text(&raw))
}
