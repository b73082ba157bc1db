//! Gemini's `streamGenerateContent?alt=sse`: request body and chunks.

use serde_json::{Value, json};

use super::request::{ChatRequest, Ending, StreamEvent, error_message};
use super::sse::SseEvent;
use super::types::{Role, Usage};

/// Body for `{endpoint}/models/{model}:streamGenerateContent?alt=sse` (the model is in the path).
pub fn body(req: &ChatRequest) -> Value {
    let system: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| json!({"text": m.content}))
        .collect();
    let contents: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| {
            let role = if m.role == Role::Assistant {
                "model"
            } else {
                "user"
            };
            json!({"role": role, "parts": [{"text": m.content}]})
        })
        .collect();
    let mut config = json!({"temperature": req.temperature});
    if let Some(max) = req.max_tokens {
        config["maxOutputTokens"] = json!(max);
    }
    let mut body = json!({"contents": contents, "generationConfig": config});
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": system});
    }
    body
}

fn usage(value: &Value) -> Option<Usage> {
    let count = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(Usage {
        prompt_tokens: count("promptTokenCount")?,
        completion_tokens: count("candidatesTokenCount").unwrap_or(0),
    })
}

/// Every chunk may carry text; the one with `finishReason` ends the answer. Usage metadata
/// is cumulative, so the last one seen wins.
#[derive(Debug, Default)]
pub struct Decoder {
    ending: Ending,
}

impl Decoder {
    pub fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, String> {
        if self.ending.done {
            return Ok(Vec::new());
        }
        let chunk: Value =
            serde_json::from_str(&event.data).map_err(|e| format!("invalid chunk JSON: {e}"))?;
        if let Some(message) = error_message(&chunk) {
            return Err(message);
        }
        if let Some(u) = chunk.get("usageMetadata").and_then(usage) {
            self.ending.usage = Some(u);
        }
        let mut out = Vec::new();
        if let Some(candidate) = chunk.pointer("/candidates/0") {
            for part in candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(text) = part.get("text").and_then(Value::as_str)
                    && !text.is_empty()
                    && part.get("thought").and_then(Value::as_bool) != Some(true)
                {
                    out.push(StreamEvent::Token(text.to_owned()));
                }
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                self.ending.finish = Some(reason.to_owned());
            }
        }
        if self.ending.finish.is_some() {
            out.extend(self.end());
        }
        Ok(out)
    }

    pub fn end(&mut self) -> Option<StreamEvent> {
        self.ending.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::types::ChatMessage;

    fn data(s: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: s.to_owned(),
        }
    }

    #[test]
    fn chunks_map_to_tokens_and_finish() {
        let mut d = Decoder::default();
        let mut out = d
            .event(&data(
                r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}"#,
            ))
            .expect("chunk");
        out.extend(
            d.event(&data(
                r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6}}"#,
            ))
            .expect("chunk"),
        );
        assert_eq!(
            out,
            vec![
                StreamEvent::Token("Hel".into()),
                StreamEvent::Token("lo".into()),
                StreamEvent::Finish {
                    reason: "STOP".into(),
                    usage: Some(Usage {
                        prompt_tokens: 4,
                        completion_tokens: 2
                    })
                }
            ]
        );
        assert_eq!(d.end(), None);
    }

    #[test]
    fn error_chunk_and_missing_finish() {
        let mut d = Decoder::default();
        assert_eq!(
            d.event(&data(
                r#"{"error":{"code":500,"message":"boom","status":"INTERNAL"}}"#
            )),
            Err("boom".to_owned())
        );
        let mut d = Decoder::default();
        d.event(&data(
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#,
        ))
        .expect("chunk");
        assert_eq!(d.end(), None);
    }

    #[test]
    fn roles_and_system_instruction() {
        let req = ChatRequest {
            model: "gemini-1.5-flash".into(),
            messages: vec![
                ChatMessage::new(Role::System, "be brief"),
                ChatMessage::new(Role::User, "a"),
                ChatMessage::new(Role::Assistant, "b"),
            ],
            temperature: 0.7,
            max_tokens: Some(64),
        };
        let b = body(&req);
        assert_eq!(b["systemInstruction"]["parts"][0]["text"], "be brief");
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 64);
    }
}
