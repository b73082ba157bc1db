//! What a chat answer streams to its followers, in the seeds' `ChatStreamEvent` shape:
//! `{"type":"token","data":{"token":..}}`, then one `complete` or `error`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conversations::BudgetState;

/// One event of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ChatEvent {
    Token(TokenData),
    Complete(Box<CompleteData>),
    Error(Box<ErrorData>),
}

impl ChatEvent {
    pub fn token(token: impl Into<String>) -> Self {
        ChatEvent::Token(TokenData {
            token: token.into(),
        })
    }

    /// `complete` and `error` end an answer.
    pub fn is_final(&self) -> bool {
        !matches!(self, ChatEvent::Token(_))
    }

    /// An `error` with only a message (nothing was stored).
    pub fn failure(message: impl Into<String>) -> Self {
        ChatEvent::Error(Box::new(ErrorData {
            error: message.into(),
            truncated: None,
            message: None,
            usage: None,
            conversation_id: None,
        }))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenData {
    pub token: String,
}

/// Tokens and cost of one answer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub cost: f64,
}

/// The stored answer (`id` is `None` when it could not be stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerMessage {
    pub id: Option<Uuid>,
    pub conversation_id: Uuid,
    pub role: String,
    pub content: String,
    pub provider: String,
    pub model: String,
    pub truncated: bool,
    pub citations: Vec<Citation>,
}

/// A knowledge chunk the answer was given, cited as `[n]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    pub n: usize,
    pub document_id: Uuid,
    pub document_name: String,
    /// The page a crawled document came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub chunk_index: i32,
    pub similarity: f64,
}

/// The budget before this answer, with a sentence to show from 80 % on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetView {
    #[serde(flatten)]
    pub state: BudgetState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<BudgetState> for BudgetView {
    fn from(state: BudgetState) -> Self {
        let warning = match state {
            BudgetState::Warning { spent, budget } => Some(format!(
                "${spent:.2} of your ${budget:.2} monthly budget is spent"
            )),
            _ => None,
        };
        BudgetView { state, warning }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteData {
    pub message: AnswerMessage,
    pub usage: UsageView,
    pub conversation_id: Uuid,
    pub provider: String,
    pub model: String,
    /// The console's own time before the provider was called.
    pub overhead_ms: f64,
    pub budget: BudgetView,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<AnswerMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_seeds_shape_and_round_trip() {
        let token = ChatEvent::token("hi");
        let json = serde_json::to_value(&token).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "token", "data": {"token": "hi"}})
        );
        let error = ChatEvent::failure("stopped");
        let text = serde_json::to_string(&error).expect("json");
        assert_eq!(text, r#"{"type":"error","data":{"error":"stopped"}}"#);
        let back: ChatEvent = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, error);
        assert!(back.is_final() && !token.is_final());
        let budget = BudgetView::from(BudgetState::Warning {
            spent: 9.0,
            budget: 10.0,
        });
        assert_eq!(
            serde_json::to_value(&budget).expect("json"),
            serde_json::json!({"state": "warning", "spent": 9.0, "budget": 10.0,
                "warning": "$9.00 of your $10.00 monthly budget is spent"})
        );
    }
}
