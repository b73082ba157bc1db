//! OpenAI's (and compatible servers') streaming chat completions: request body and events.

use serde_json::{Value, json};

use super::request::{ChatRequest, Ending, StreamEvent, error_message};
use super::sse::SseEvent;
use super::types::Usage;

/// `{endpoint}/chat/completions` with usage requested in the stream.
pub fn body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "temperature": req.temperature,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(max) = req.max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

pub(crate) fn usage(value: &Value) -> Option<Usage> {
    let count = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(Usage {
        prompt_tokens: count("prompt_tokens")?,
        completion_tokens: count("completion_tokens").unwrap_or(0),
    })
}

/// Turns chunks into events. The finish reason arrives before the usage chunk, so `Finish`
/// is emitted at `[DONE]` (or at the end of the body once a finish reason was seen).
#[derive(Debug, Default)]
pub struct Decoder {
    ending: Ending,
}

impl Decoder {
    pub fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, String> {
        if self.ending.done {
            return Ok(Vec::new());
        }
        if event.data.trim() == "[DONE]" {
            return Ok(self.end().into_iter().collect());
        }
        let chunk: Value =
            serde_json::from_str(&event.data).map_err(|e| format!("invalid chunk JSON: {e}"))?;
        if let Some(message) = error_message(&chunk) {
            return Err(message);
        }
        if let Some(u) = chunk.get("usage").and_then(usage) {
            self.ending.usage = Some(u);
        }
        let mut out = Vec::new();
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
                && !text.is_empty()
            {
                out.push(StreamEvent::Token(text.to_owned()));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.ending.finish = Some(reason.to_owned());
            }
        }
        Ok(out)
    }

    /// The `Finish` event, if the provider gave a finish reason; at most once.
    pub fn end(&mut self) -> Option<StreamEvent> {
        self.ending.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::types::{ChatMessage, Role};

    fn data(s: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: s.to_owned(),
        }
    }

    #[test]
    fn chunks_map_to_tokens_then_finish_with_usage() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for chunk in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#,
            "[DONE]",
        ] {
            out.extend(d.event(&data(chunk)).expect("chunk"));
        }
        assert_eq!(
            out,
            vec![
                StreamEvent::Token("Hi".into()),
                StreamEvent::Finish {
                    reason: "stop".into(),
                    usage: Some(Usage {
                        prompt_tokens: 7,
                        completion_tokens: 2
                    })
                }
            ]
        );
        assert_eq!(d.end(), None);
    }

    #[test]
    fn eof_without_finish_reason_has_no_finish() {
        let mut d = Decoder::default();
        d.event(&data(
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        ))
        .expect("chunk");
        assert_eq!(d.end(), None);
    }

    #[test]
    fn error_chunk_is_an_error() {
        let mut d = Decoder::default();
        let err = d
            .event(&data(
                r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            ))
            .expect_err("error");
        assert_eq!(err, "overloaded");
    }

    #[test]
    fn body_requests_a_stream_with_usage() {
        let req = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![
                ChatMessage::new(Role::System, "be brief"),
                ChatMessage::new(Role::User, "hi"),
            ],
            temperature: 0.5,
            max_tokens: None,
        };
        let b = body(&req);
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["messages"][0]["role"], "system");
        assert!(b.get("max_tokens").is_none());
    }
}
