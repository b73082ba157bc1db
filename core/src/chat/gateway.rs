//! The chat gateway: plans candidates, opens a stream with retries, fallback and cooldowns,
//! and watches the stream until it finishes or is cut short.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::Instrument;

use super::client::{ChatStream, ReadLimits, open_stream};
use super::cost::estimate_tokens;
use super::error::{OpenError, RouteError, StreamError};
use super::limits::Limits;
use super::request::{ChatRequest, StreamEvent};
use super::routing::{Candidate, classify, plan};
use super::types::{ChatMessage, ModelInfo, ProviderEntry, Usage};

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// TCP/TLS connect limit.
    pub connect_timeout: Duration,
    /// Limit for the response headers and the first event together.
    pub first_token_timeout: Duration,
    /// Longest silence between two events once streaming.
    pub idle_timeout: Duration,
    /// Extra tries on the same provider, for 5xx and connect errors only.
    pub retries: u32,
    /// Pause before the first retry; doubles for each further one.
    pub backoff: Duration,
    /// How long a rate-limited or failing provider is skipped.
    pub cooldown: Duration,
    /// `max_tokens` sent with every chat request.
    pub max_answer_tokens: u32,
    /// Longest answer relayed, in bytes of text; the answer is cut (truncated) there.
    pub max_answer_bytes: usize,
    /// Longest an answer may stream from its first token; cut (truncated) after.
    pub max_answer_duration: Duration,
    /// SSE line and error body limits.
    pub read: ReadLimits,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_token_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            retries: 1,
            backoff: Duration::from_millis(200),
            cooldown: Duration::from_secs(30),
            max_answer_tokens: 4096,
            max_answer_bytes: 256 * 1024,
            max_answer_duration: Duration::from_secs(300),
            read: ReadLimits::default(),
        }
    }
}

/// A failed try: which provider and model, and why (never a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// `namespace/name`.
    pub provider: String,
    pub model: String,
    pub error: String,
}

/// Every candidate failed.
#[derive(Clone, Debug, thiserror::Error)]
pub struct AllFailed {
    pub attempts: Vec<Attempt>,
}

impl std::fmt::Display for AllFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.attempts.is_empty() {
            return write!(f, "no provider could be tried");
        }
        write!(f, "all providers failed: ")?;
        // A retry that failed the same way is one line with its count.
        let mut runs: Vec<(&Attempt, usize)> = Vec::new();
        for a in &self.attempts {
            match runs.last_mut() {
                Some((last, n)) if *last == a => *n += 1,
                _ => runs.push((a, 1)),
            }
        }
        for (i, (a, n)) in runs.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{} ({}): {}", a.provider, a.model, a.error)?;
            if *n > 1 {
                write!(f, " ({n} tries)")?;
            }
        }
        Ok(())
    }
}

/// What the caller streams to the user.
#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    Token(String),
    /// The provider finished; `usage` is as reported, or estimated (`estimated`) when absent.
    Done {
        finish_reason: String,
        usage: Usage,
        estimated: bool,
    },
    /// The stream ended, failed or stalled before the provider finished.
    Truncated {
        reason: String,
        usage_estimate: Usage,
    },
}

/// Counters for metrics, per provider (`namespace/name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderStats {
    pub name: String,
    pub truncations: u64,
    /// Times the gateway gave up on this provider and moved to the next candidate.
    pub fallbacks_from: u64,
    pub cooldown_until: Option<Instant>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    truncations: u64,
    fallbacks_from: u64,
}

type CounterMap = Arc<Mutex<HashMap<String, Counters>>>;

fn bump(counters: &CounterMap, name: &str, f: impl FnOnce(&mut Counters)) {
    let mut map = counters.lock().unwrap_or_else(|e| e.into_inner());
    f(map.entry(name.to_owned()).or_default());
}

#[derive(Clone)]
pub struct Gateway {
    config: GatewayConfig,
    http: reqwest::Client,
    limits: Arc<Limits>,
    counters: CounterMap,
}

fn label(provider: &ProviderEntry) -> String {
    format!("{}/{}", provider.namespace, provider.name)
}

/// Why one try failed, and what that means for the provider.
enum Failure {
    Open(OpenError),
    Timeout(Duration),
    Stream(StreamError),
    Ended,
    RateLimited(i32),
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(self, Failure::Open(e) if e.is_retryable())
    }

    fn describe(&self) -> String {
        match self {
            Failure::Open(e) => e.to_string(),
            Failure::Timeout(d) => format!("no first token within {} ms", d.as_millis()),
            Failure::Stream(e) => format!("stream failed before the first token: {e}"),
            Failure::Ended => "stream ended before the first token".to_owned(),
            Failure::RateLimited(rpm) => {
                format!("local rate limit of {rpm} requests/minute reached")
            }
        }
    }
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Gateway {
        crate::http::install_crypto_provider();
        // Never follows redirects: chat and embeddings requests carry the Provider's key.
        let http = crate::http::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .unwrap_or_else(|_| crate::http::client());
        Gateway {
            limits: Arc::new(Limits::new(config.cooldown)),
            config,
            http,
            counters: CounterMap::default(),
        }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The HTTP client (connect timeout applied), e.g. for embeddings.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Candidates for `message`, skipping providers that are cooling down or rate limited.
    pub fn plan(
        &self,
        providers: &[ProviderEntry],
        explicit_model: Option<&str>,
        message: &str,
        context_tokens: usize,
    ) -> Result<Vec<Candidate>, RouteError> {
        let task = classify(message, context_tokens);
        let now = Instant::now();
        let unavailable =
            |p: &ProviderEntry| !self.limits.is_available(&label(p), p.rate_limit_rpm, now);
        let candidates = plan(
            providers,
            explicit_model,
            task,
            context_tokens,
            &unavailable,
        )?;
        tracing::debug!(?task, first = ?candidates.first().map(|c| (c.provider_label(), &c.model.name)), "chat routed");
        Ok(candidates)
    }

    /// Tries the candidates in order until one streams its first token (or finishes at once).
    pub async fn open(
        &self,
        candidates: Vec<Candidate>,
        messages: Vec<ChatMessage>,
        temperature: f32,
    ) -> Result<OpenChat, AllFailed> {
        let mut attempts = Vec::new();
        let count = candidates.len();
        for (index, candidate) in candidates.into_iter().enumerate() {
            let name = label(&candidate.provider);
            let span = tracing::info_span!("chat_attempt", provider = %name, model = %candidate.model.name);
            let request = ChatRequest {
                model: candidate.model.name.clone(),
                messages: messages.clone(),
                temperature,
                max_tokens: Some(self.config.max_answer_tokens),
            };
            match self
                .try_candidate(&candidate, &request, &mut attempts)
                .instrument(span)
                .await
            {
                Some((stream, first)) => {
                    return Ok(OpenChat {
                        prompt_estimate: messages.iter().map(|m| estimate_tokens(&m.content)).sum(),
                        provider: candidate.provider,
                        model: candidate.model,
                        attempts,
                        stream,
                        pending: Some(first),
                        output_bytes: 0,
                        output_chars: 0,
                        max_bytes: self.config.max_answer_bytes,
                        max_duration: self.config.max_answer_duration,
                        deadline: tokio::time::Instant::now() + self.config.max_answer_duration,
                        cut: None,
                        idle_timeout: self.config.idle_timeout,
                        finished: false,
                        counters: self.counters.clone(),
                        name,
                    });
                }
                None => {
                    bump(&self.counters, &name, |c| c.fallbacks_from += 1);
                    if index + 1 < count {
                        tracing::info!(provider = %name, "falling back to the next provider");
                    }
                }
            }
        }
        tracing::warn!(attempts = attempts.len(), "every chat provider failed");
        Err(AllFailed { attempts })
    }

    /// One candidate with its retries; records each failed try in `attempts`.
    async fn try_candidate(
        &self,
        candidate: &Candidate,
        request: &ChatRequest,
        attempts: &mut Vec<Attempt>,
    ) -> Option<(ChatStream, StreamEvent)> {
        let name = label(&candidate.provider);
        let record = |attempts: &mut Vec<Attempt>, failure: &Failure| {
            let error = failure.describe();
            tracing::warn!(provider = %name, model = %candidate.model.name, %error, "chat attempt failed");
            attempts.push(Attempt {
                provider: name.clone(),
                model: candidate.model.name.clone(),
                error,
            });
        };
        let rpm = candidate.provider.rate_limit_rpm;
        if !self.limits.try_acquire(&name, rpm, Instant::now()) {
            record(attempts, &Failure::RateLimited(rpm.unwrap_or_default()));
            return None;
        }
        let mut backoff = self.config.backoff;
        let mut tries = 0;
        loop {
            match self.try_once(&candidate.provider, request).await {
                Ok(opened) => {
                    self.limits.record_success(&name);
                    return Some(opened);
                }
                Err(failure) => {
                    record(attempts, &failure);
                    let now = Instant::now();
                    match &failure {
                        Failure::Open(OpenError::Status {
                            status: 429,
                            retry_after,
                            ..
                        }) => self.limits.record_rate_limited(&name, *retry_after, now),
                        Failure::Open(OpenError::Status { status, .. }) if *status < 500 => {}
                        Failure::Open(OpenError::Other { .. }) | Failure::RateLimited(_) => {}
                        Failure::Timeout(_) => self.limits.record_timeout(&name, now),
                        _ => self.limits.record_failure(&name, now),
                    }
                    if !failure.retryable() || tries >= self.config.retries {
                        return None;
                    }
                    tries += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
    }

    /// Opens the stream and waits for its first meaningful event, all within the
    /// first-token timeout.
    async fn try_once(
        &self,
        provider: &ProviderEntry,
        request: &ChatRequest,
    ) -> Result<(ChatStream, StreamEvent), Failure> {
        let limit = self.config.first_token_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut stream = tokio::time::timeout_at(
            deadline,
            open_stream(&self.http, provider, request, self.config.read),
        )
        .await
        .map_err(|_| Failure::Timeout(limit))?
        .map_err(Failure::Open)?;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(Failure::Timeout(limit)),
                Ok(None) => return Err(Failure::Ended),
                Ok(Some(Err(e))) => return Err(Failure::Stream(e)),
                Ok(Some(Ok(StreamEvent::Token(t)))) if t.is_empty() => {}
                Ok(Some(Ok(event))) => return Ok((stream, event)),
            }
        }
    }

    /// Streams from `provider_name` (`namespace/name`) that ended before finishing.
    pub fn truncations(&self, provider_name: &str) -> u64 {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.get(provider_name).map_or(0, |c| c.truncations)
    }

    /// Per-provider counters and cooldowns, sorted by name.
    pub fn stats(&self) -> Vec<ProviderStats> {
        let now = Instant::now();
        let counters: HashMap<String, Counters> = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut names: Vec<String> = counters.keys().cloned().collect();
        names.extend(self.limits.keys());
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let c = counters.get(&name).copied().unwrap_or_default();
                ProviderStats {
                    cooldown_until: self.limits.cooldown_until(&name, now),
                    truncations: c.truncations,
                    fallbacks_from: c.fallbacks_from,
                    name,
                }
            })
            .collect()
    }
}

/// A chat that produced its first event; read the rest with [`OpenChat::next`].
pub struct OpenChat {
    pub provider: ProviderEntry,
    pub model: ModelInfo,
    /// The tries that failed before this one.
    pub attempts: Vec<Attempt>,
    stream: ChatStream,
    pending: Option<StreamEvent>,
    /// Only counts are kept: the text itself is the caller's (one copy of an answer).
    output_bytes: usize,
    output_chars: usize,
    max_bytes: usize,
    max_duration: Duration,
    deadline: tokio::time::Instant,
    /// Set when a limit was reached: the reason the next call ends the answer with.
    cut: Option<String>,
    prompt_estimate: u32,
    idle_timeout: Duration,
    finished: bool,
    counters: CounterMap,
    name: String,
}

impl std::fmt::Debug for OpenChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenChat")
            .field("provider", &self.name)
            .field("model", &self.model.name)
            .field("attempts", &self.attempts)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl OpenChat {
    /// Bytes of answer text streamed so far.
    pub fn answer_bytes(&self) -> usize {
        self.output_bytes
    }

    fn estimate(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: u32::try_from(self.output_chars.div_ceil(4)).unwrap_or(u32::MAX),
        }
    }

    fn truncated(&mut self, reason: String) -> Delta {
        self.finished = true;
        bump(&self.counters, &self.name, |c| c.truncations += 1);
        tracing::warn!(provider = %self.name, model = %self.model.name, %reason, bytes = self.output_bytes, "chat stream truncated");
        Delta::Truncated {
            reason,
            usage_estimate: self.estimate(),
        }
    }

    /// The next token, then `Done` or `Truncated`, then `None`. An answer longer than the
    /// byte limit, or streaming longer than the duration limit, ends `Truncated` with the
    /// limit as its reason (its last token cut on a character boundary).
    pub async fn next(&mut self) -> Option<Delta> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(reason) = self.cut.take() {
                return Some(self.truncated(reason));
            }
            let event = match self.pending.take() {
                Some(event) => event,
                None => {
                    let now = tokio::time::Instant::now();
                    if now >= self.deadline {
                        return Some(self.truncated(format!(
                            "the answer took longer than {} s, the limit",
                            self.max_duration.as_secs_f64()
                        )));
                    }
                    let idle_until = now + self.idle_timeout;
                    let until = idle_until.min(self.deadline);
                    match tokio::time::timeout_at(until, self.stream.next()).await {
                        Ok(Some(Ok(event))) => event,
                        Ok(Some(Err(e))) => return Some(self.truncated(e.to_string())),
                        Ok(None) => {
                            return Some(
                                self.truncated("stream ended without a finish reason".to_owned()),
                            );
                        }
                        Err(_) if until == idle_until => {
                            let reason =
                                format!("no data for {} ms", self.idle_timeout.as_millis());
                            return Some(self.truncated(reason));
                        }
                        Err(_) => continue,
                    }
                }
            };
            match event {
                StreamEvent::Token(t) if t.is_empty() => {}
                StreamEvent::Token(mut t) => {
                    let room = self.max_bytes.saturating_sub(self.output_bytes);
                    if t.len() > room {
                        let mut cut = room;
                        while !t.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        t.truncate(cut);
                        self.output_bytes += t.len();
                        self.output_chars += t.chars().count();
                        // The next call ends the answer.
                        self.cut = Some(format!(
                            "the answer reached {} bytes, the limit",
                            self.max_bytes
                        ));
                        if t.is_empty() {
                            continue;
                        }
                        return Some(Delta::Token(t));
                    }
                    self.output_bytes += t.len();
                    self.output_chars += t.chars().count();
                    return Some(Delta::Token(t));
                }
                StreamEvent::Finish { reason, usage } => {
                    self.finished = true;
                    let (usage, estimated) = match usage {
                        Some(usage) => (usage, false),
                        None => (self.estimate(), true),
                    };
                    return Some(Delta::Done {
                        finish_reason: reason,
                        usage,
                        estimated,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_failed_lists_every_attempt() {
        let err = AllFailed {
            attempts: vec![
                Attempt {
                    provider: "ai/openai".into(),
                    model: "gpt-4o".into(),
                    error: "HTTP 429: slow down".into(),
                },
                Attempt {
                    provider: "ai/gemini".into(),
                    model: "gemini-1.5-flash".into(),
                    error: "cannot connect".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "all providers failed: ai/openai (gpt-4o): HTTP 429: slow down; ai/gemini (gemini-1.5-flash): cannot connect"
        );
        assert_eq!(
            AllFailed { attempts: vec![] }.to_string(),
            "no provider could be tried"
        );
        let retried = Attempt {
            provider: "ai/openai".into(),
            model: "gpt-4o".into(),
            error: "HTTP 503".into(),
        };
        let err = AllFailed {
            attempts: vec![retried.clone(), retried],
        };
        assert_eq!(
            err.to_string(),
            "all providers failed: ai/openai (gpt-4o): HTTP 503 (2 tries)"
        );
    }

    #[test]
    fn the_open_future_and_the_chat_are_send() {
        fn send<T: Send>(_: &T) {}
        let gateway = Gateway::new(GatewayConfig::default());
        let open = gateway.open(Vec::new(), Vec::new(), 0.0);
        send(&open);
        fn send_type<T: Send + 'static>() {}
        send_type::<OpenChat>();
        send_type::<Gateway>();
    }

    #[test]
    fn defaults() {
        let c = GatewayConfig::default();
        assert_eq!(
            (
                c.connect_timeout,
                c.first_token_timeout,
                c.idle_timeout,
                c.retries
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(60),
                1
            )
        );
    }
}
