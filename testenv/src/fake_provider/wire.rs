//! The three APIs' wire formats as the fake speaks them: error bodies, key headers, chat request
//! bodies, the streamed events, and embeddings.

use serde_json::{Value, json};

use super::http1::{Request, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Api {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Api {
    pub fn label(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gemini",
        }
    }
}

pub(super) fn presented_key(api: Api, request: &Request) -> Option<String> {
    match api {
        Api::OpenAi => request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned),
        Api::Anthropic => request.header("x-api-key").map(str::to_owned),
        Api::Gemini => request
            .query("key")
            .or_else(|| request.header("x-goog-api-key"))
            .map(str::to_owned),
    }
}

/// The API's own error body for `status` (429 also carries `retry-after: 1`).
pub(super) fn error(api: Api, status: u16, message: &str) -> Response {
    let body = match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": openai_type(status), "param": null, "code": null}})
        }
        Api::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_type(status), "message": message}})
        }
        Api::Gemini => {
            json!({"error": {"code": status, "message": message, "status": gemini_status(status)}})
        }
    };
    let response = Response::json(status, &body);
    if status == 429 {
        response.with_header("retry-after", "1")
    } else {
        response
    }
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "invalid_request_error",
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn gemini_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 | 403 => "UNAUTHENTICATED",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    }
}

/// The probe answer: one model per API.
pub(super) fn models(api: Api) -> Value {
    match api {
        Api::OpenAi => json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}]}),
        Api::Anthropic => json!({"data": [
            {"type": "model", "id": "claude-3-5-sonnet-20241022", "display_name": "Claude 3.5 Sonnet", "created_at": "2024-10-22T00:00:00Z"}],
            "has_more": false, "first_id": "claude-3-5-sonnet-20241022", "last_id": "claude-3-5-sonnet-20241022"}),
        Api::Gemini => json!({"models": [
            {"name": "models/gemini-1.5-flash", "displayName": "Gemini 1.5 Flash", "inputTokenLimit": 1_048_576,
             "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent", "countTokens"]}]}),
    }
}

/// What the fake needs from a chat request body.
pub(super) struct ChatCall {
    pub model: String,
    /// Whitespace-separated words over all input messages, system included.
    pub prompt_words: u32,
    pub include_usage: bool,
}

fn words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Words of a content that is a string or an array of `{"text": ...}` parts/blocks.
fn content_words(content: &Value) -> u32 {
    match content {
        Value::String(s) => words(s),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(words)
            .sum(),
        _ => 0,
    }
}

/// Validates a chat body the way the real API would refuse it (400 with this message).
pub(super) fn parse_chat(
    api: Api,
    body: &Value,
    path_model: Option<&str>,
) -> Result<ChatCall, String> {
    let model = match path_model {
        Some(m) => m.to_owned(),
        None => body
            .get("model")
            .and_then(Value::as_str)
            .ok_or("model: field required")?
            .to_owned(),
    };
    if api != Api::Gemini && body.get("stream").and_then(Value::as_bool) != Some(true) {
        return Err("this fake only answers streaming requests (stream: true)".into());
    }
    let list = |key: &str| {
        body.get(key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or(format!("{key}: at least one message is required"))
    };
    let prompt_words = match api {
        Api::OpenAi => list("messages")?
            .iter()
            .map(|m| m.get("content").map(content_words).unwrap_or(0))
            .sum(),
        Api::Anthropic => {
            if body.get("max_tokens").and_then(Value::as_u64).is_none() {
                return Err("max_tokens: Field required".into());
            }
            let messages = list("messages")?;
            if messages
                .iter()
                .any(|m| m.get("role").and_then(Value::as_str) == Some("system"))
            {
                return Err(
                    "messages: Unexpected role \"system\"; use the top-level system parameter"
                        .into(),
                );
            }
            body.get("system").map(content_words).unwrap_or(0)
                + messages
                    .iter()
                    .map(|m| m.get("content").map(content_words).unwrap_or(0))
                    .sum::<u32>()
        }
        Api::Gemini => {
            let parts_words = |v: &Value| v.get("parts").map(content_words).unwrap_or(0);
            body.get("systemInstruction").map(parts_words).unwrap_or(0)
                + list("contents")?.iter().map(parts_words).sum::<u32>()
        }
    };
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatCall {
        model,
        prompt_words,
        include_usage,
    })
}

/// A streamed answer: frames before the tokens, one frame per token, frames after them.
pub(super) struct Frames {
    pub head: Vec<String>,
    pub tokens: Vec<String>,
    pub tail: Vec<String>,
}

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

/// `usage`: (prompt, completion) tokens to report instead of the counted ones.
pub(super) fn frames(
    api: Api,
    call: &ChatCall,
    reply: &[String],
    usage: Option<(u32, u32)>,
) -> Frames {
    let (prompt, completion) = usage.unwrap_or((
        call.prompt_words,
        u32::try_from(reply.len()).unwrap_or(u32::MAX),
    ));
    let model = call.model.as_str();
    match api {
        Api::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                let mut c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_732_000_000,
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                if call.include_usage {
                    c["usage"] = Value::Null;
                }
                data(&c)
            };
            let mut tail = vec![chunk(json!({}), json!("stop"))];
            if call.include_usage {
                tail.push(data(&json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_732_000_000,
                    "model": model, "choices": [],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})));
            }
            tail.push("data: [DONE]\n\n".to_owned());
            Frames {
                head: vec![chunk(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                )],
                tokens: reply
                    .iter()
                    .map(|t| chunk(json!({"content": t}), Value::Null))
                    .collect(),
                tail,
            }
        }
        Api::Anthropic => Frames {
            head: vec![
                event(
                    "message_start",
                    &json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
                        "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": prompt, "output_tokens": 1}}}),
                ),
                event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
                event("ping", &json!({"type": "ping"})),
            ],
            tokens: reply
                .iter()
                .map(|t| {
                    event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}),
                    )
                })
                .collect(),
            tail: vec![
                event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": 0}),
                ),
                event(
                    "message_delta",
                    &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": completion}}),
                ),
                event("message_stop", &json!({"type": "message_stop"})),
            ],
        },
        Api::Gemini => {
            let chunk = |text: &str, last: bool| {
                let mut candidate = json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
                let usage = if last {
                    candidate["finishReason"] = json!("STOP");
                    json!({"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion})
                } else {
                    json!({"promptTokenCount": prompt, "totalTokenCount": prompt})
                };
                data(
                    &json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}),
                )
            };
            let tokens = if reply.is_empty() {
                vec![chunk("", true)]
            } else {
                reply
                    .iter()
                    .enumerate()
                    .map(|(i, t)| chunk(t, i + 1 == reply.len()))
                    .collect()
            };
            Frames {
                head: Vec::new(),
                tokens,
                tail: Vec::new(),
            }
        }
    }
}

/// Most inputs OpenAI accepts in one embeddings request.
pub(super) const MAX_EMBEDDING_INPUTS: usize = 2048;

/// Dimensions of the fake embeddings (text-embedding-3-small's).
pub(super) const EMBEDDING_DIMS: usize = 1536;

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A deterministic unit vector from the text's lowercase words: each word adds ±1 to three
/// dimensions, so texts sharing words point in similar directions.
pub(super) fn embed_text(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; EMBEDDING_DIMS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        for seed in 0..3u64 {
            let h = fnv1a(word.as_bytes(), seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let dim = usize::try_from(h % EMBEDDING_DIMS as u64).unwrap_or(0);
            v[dim] += if (h >> 32) & 1 == 0 { 1.0 } else { -1.0 };
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
    } else {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The `/embeddings` answer for a body with `input` as a string or an array of strings.
pub(super) fn embeddings(body: &Value) -> Result<Value, String> {
    let inputs: Vec<&str> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().ok_or("input: array items must be strings"))
            .collect::<Result<_, _>>()?,
        _ => return Err("input: field required".into()),
    };
    // OpenAI's own limit on one embeddings request.
    if inputs.len() > MAX_EMBEDDING_INPUTS {
        return Err(format!(
            "'$.input' is invalid: at most {MAX_EMBEDDING_INPUTS} inputs per request, got {}",
            inputs.len()
        ));
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("text-embedding-3-small");
    let tokens: u32 = inputs.iter().map(|t| words(t)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed_text(t)}))
        .collect();
    Ok(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_unit_vectors_close_for_shared_words() {
        let a = embed_text("restart the database");
        let b = embed_text("Database restart");
        let c = embed_text("purple elephants dance");
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.7, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.3, "{}", cosine(&a, &c));
        assert_eq!(a, embed_text("restart the database"));
    }

    #[test]
    fn anthropic_requires_max_tokens_and_counts_system() {
        let body = json!({"model": "claude", "stream": true, "system": "be brief",
            "messages": [{"role": "user", "content": "hi there you"}]});
        assert!(parse_chat(Api::Anthropic, &body, None).is_err());
        let mut body = body;
        body["max_tokens"] = json!(10);
        let call = parse_chat(Api::Anthropic, &body, None).expect("valid");
        assert_eq!(call.prompt_words, 5);
    }
}
