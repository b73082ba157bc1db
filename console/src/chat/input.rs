//! A chat request as the API and the chat page send it, and its validation.

use javari_core::chat::Ask;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// `POST /api/javari/chat` body (the seeds' ChatRequest).
#[derive(Deserialize, Debug, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatInput {
    /// 1 to 32,000 characters.
    #[schema(min_length = 1, max_length = 32000)]
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
    #[serde(default)]
    pub project_id: Option<Uuid>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub include_knowledge: Option<bool>,
}

impl ChatInput {
    /// Refuses what no provider should be asked: empty or oversized messages, temperatures
    /// outside 0–2, blank model names.
    pub fn validate(&mut self) -> Result<(), ApiError> {
        let trimmed = self.message.trim();
        if trimmed.is_empty() {
            return Err(ApiError::bad_request("message must not be empty"));
        }
        if trimmed.contains('\0') {
            return Err(ApiError::bad_request(
                "message must not contain NUL characters",
            ));
        }
        let chars = trimmed.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(ApiError::bad_request(format!(
                "message is {chars} characters; the limit is {MAX_MESSAGE_CHARS}"
            )));
        }
        self.message = trimmed.to_owned();
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ApiError::bad_request("temperature must be between 0 and 2"));
        }
        if self.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            self.model = None;
        }
        Ok(())
    }

    /// The validated question for the chat service.
    pub fn into_ask(mut self) -> Result<Ask, ApiError> {
        self.validate()?;
        Ok(Ask {
            message: self.message,
            conversation_id: self.conversation_id,
            project_id: self.project_id,
            model: self.model,
            temperature: self.temperature,
            include_knowledge: self.include_knowledge.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_long_and_hot_requests_are_refused() {
        let mut blank = ChatInput {
            message: "  \n ".into(),
            ..Default::default()
        };
        assert!(blank.validate().is_err());
        let mut nul = ChatInput {
            message: "a\0b".into(),
            ..Default::default()
        };
        assert!(nul.validate().is_err());
        let mut long = ChatInput {
            message: "x".repeat(MAX_MESSAGE_CHARS + 1),
            ..Default::default()
        };
        assert!(long.validate().is_err());
        let mut hot = ChatInput {
            message: "hi".into(),
            temperature: Some(3.0),
            ..Default::default()
        };
        assert!(hot.validate().is_err());
        let mut ok = ChatInput {
            message: " hi ".into(),
            model: Some(" ".into()),
            ..Default::default()
        };
        ok.validate().expect("valid");
        assert_eq!(ok.message, "hi");
        assert_eq!(ok.model, None);
    }
}
