//! Request counts and latencies per route, for `/metrics`.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/conversations/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabels {
    pub provider: String,
    pub model: String,
    /// `complete` or `truncated`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

pub struct HttpMetrics {
    pub registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    answers: Family<AnswerLabels, Counter>,
    cost: Family<ProviderLabels, Counter<f64, AtomicU64>>,
    fallbacks: Family<ProviderLabels, Counter>,
    unanswered: Counter,
}

impl HttpMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("javari_console");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            duration.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(vec![("version", javari_core::VERSION)]),
        );
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "chat_answers",
            "Chat answers by provider, model and outcome (complete or truncated)",
            answers.clone(),
        );
        let cost = Family::<ProviderLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "chat_cost_usd",
            "US dollars billed for complete chat answers, by provider",
            cost.clone(),
        );
        let fallbacks = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "chat_fallbacks",
            "Chat requests that left a provider for the next one before the first token",
            fallbacks.clone(),
        );
        let unanswered = Counter::default();
        registry.register(
            "chat_unanswered",
            "Chat requests no provider could answer",
            unanswered.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            answers,
            cost,
            fallbacks,
            unanswered,
        }
    }

    pub fn chat_finished(&self, provider: &str, model: &str, truncated: bool, cost_usd: f64) {
        self.answers
            .get_or_create(&AnswerLabels {
                provider: provider.to_owned(),
                model: model.to_owned(),
                outcome: if truncated { "truncated" } else { "complete" },
            })
            .inc();
        self.cost
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc_by(cost_usd);
    }

    pub fn chat_fallback(&self, from_provider: &str) {
        self.fallbacks
            .get_or_create(&ProviderLabels {
                provider: from_provider.to_owned(),
            })
            .inc();
    }

    pub fn chat_failed(&self) {
        self.unanswered.inc();
    }
}

/// When the console received a request, before authentication: the start of the console's
/// own share of a chat answer's latency.
#[derive(Clone, Copy, Debug)]
pub struct Received(pub Instant);

/// Middleware recording every request under its matched route.
pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    request.extensions_mut().insert(Received(started));
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .duration
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}
