//! Anthropic's Messages API with `stream: true`: request body and named events.

use serde_json::{Value, json};

use super::request::{ChatRequest, StreamEvent, error_message};
use super::sse::SseEvent;
use super::types::{Role, Usage};

/// The API refuses a request without `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// `{endpoint}/v1/messages`: system prompts move to the top-level `system` field and
/// consecutive messages of one role are merged (the API wants user/assistant turns).
pub fn body(req: &ChatRequest) -> Value {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut turns: Vec<(Role, String)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match turns.last_mut() {
            Some((role, content)) if *role == m.role => {
                content.push_str("\n\n");
                content.push_str(&m.content);
            }
            _ => turns.push((m.role, m.content.clone())),
        }
    }
    let messages: Vec<Value> = turns
        .iter()
        .map(|(role, content)| json!({"role": role.as_str(), "content": content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "temperature": req.temperature,
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    body
}

fn count(value: &Value, pointer: &str) -> Option<u32> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

#[derive(Debug, Default)]
pub struct Decoder {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    stop_reason: Option<String>,
    done: bool,
}

impl Decoder {
    pub fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, String> {
        if self.done {
            return Ok(Vec::new());
        }
        let value: Value =
            serde_json::from_str(&event.data).map_err(|e| format!("invalid event JSON: {e}"))?;
        let kind = event
            .event
            .as_deref()
            .or_else(|| value.get("type").and_then(Value::as_str))
            .unwrap_or_default();
        match kind {
            "message_start" => {
                self.input_tokens = count(&value, "/message/usage/input_tokens");
            }
            "content_block_delta" => {
                if value.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(text) = value.pointer("/delta/text").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    return Ok(vec![StreamEvent::Token(text.to_owned())]);
                }
            }
            "message_delta" => {
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(n) = count(&value, "/usage/output_tokens") {
                    self.output_tokens = Some(n);
                }
                if let Some(n) = count(&value, "/usage/input_tokens") {
                    self.input_tokens = Some(n);
                }
            }
            "message_stop" => return Ok(self.end().into_iter().collect()),
            "error" => {
                return Err(error_message(&value).unwrap_or_else(|| "unknown error".into()));
            }
            _ => {}
        }
        Ok(Vec::new())
    }

    pub fn end(&mut self) -> Option<StreamEvent> {
        if self.done {
            return None;
        }
        self.done = true;
        let reason = self.stop_reason.take()?;
        let usage = self.input_tokens.map(|prompt_tokens| Usage {
            prompt_tokens,
            completion_tokens: self.output_tokens.unwrap_or(0),
        });
        Some(StreamEvent::Finish { reason, usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::types::ChatMessage;

    fn ev(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: Some(name.to_owned()),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_map_to_tokens_and_finish() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for (name, data) in [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ] {
            out.extend(d.event(&ev(name, data)).expect("event"));
        }
        assert_eq!(
            out,
            vec![
                StreamEvent::Token("Hi".into()),
                StreamEvent::Finish {
                    reason: "end_turn".into(),
                    usage: Some(Usage {
                        prompt_tokens: 12,
                        completion_tokens: 3
                    })
                }
            ]
        );
    }

    #[test]
    fn error_event_and_truncation() {
        let mut d = Decoder::default();
        let err = d
            .event(&ev(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ))
            .expect_err("error");
        assert_eq!(err, "Overloaded");
        let mut d = Decoder::default();
        d.event(&ev(
            "content_block_delta",
            r#"{"delta":{"type":"text_delta","text":"a"}}"#,
        ))
        .expect("delta");
        assert_eq!(d.end(), None);
    }

    #[test]
    fn system_is_top_level_and_turns_are_merged() {
        let req = ChatRequest {
            model: "claude-3-haiku".into(),
            messages: vec![
                ChatMessage::new(Role::System, "be brief"),
                ChatMessage::new(Role::User, "a"),
                ChatMessage::new(Role::User, "b"),
                ChatMessage::new(Role::Assistant, "c"),
            ],
            temperature: 0.2,
            max_tokens: None,
        };
        let b = body(&req);
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["messages"].as_array().map(Vec::len), Some(2));
        assert_eq!(b["messages"][0]["content"], "a\n\nb");
    }
}
