//! A chat call as the gateway hands it to a client, and what a client streams back.

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
