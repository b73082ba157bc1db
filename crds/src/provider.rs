//! Provider: an AI model endpoint the console routes chat to.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::CredentialKeyRef;
use crate::duration::DURATION_PATTERN;

/// Annotation that marks a Provider down so chat routes around it; its value says who failed
/// it over (`monitor/NAME`, `runbook/ACTOR`). Removing it restores the Provider.
pub const FAILOVER_ANNOTATION: &str = "javari.ai/failed-over-by";

/// Desired state of a Provider.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "javari.ai",
    version = "v1alpha1",
    kind = "Provider",
    namespaced,
    status = "ProviderStatus",
    shortname = "jprov",
    category = "javari",
    printcolumn(name = "API", type_ = "string", json_path = ".spec.api"),
    printcolumn(name = "Priority", type_ = "integer", json_path = ".spec.priority"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(name = "Latency", type_ = "integer", json_path = ".status.latencyMs"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.api == 'openai-compatible' || has(self.credentialRef)").message("credentialRef is required for hosted providers (openai, anthropic, gemini)").field_path(".credentialRef"))]
#[x_kube(validation = Rule::new("self.models.all(m, self.models.exists_one(n, n.name == m.name))").message("models[].name must be unique").field_path(".models"))]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// Wire protocol of the endpoint.
    pub api: ProviderApi,
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://ollama:11434/v1`; no query or
    /// fragment (the API key is sent to it: it must be a plain base URL).
    #[schemars(regex(pattern = r"^https?://[^\s/$.?#][^\s?#]*$"))]
    pub endpoint: String,
    /// API key; optional only for local OpenAI-compatible servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<CredentialKeyRef>,
    /// Models served, with prices used for cost tracking.
    #[schemars(length(min = 1, max = 64))]
    pub models: Vec<ProviderModel>,
    /// Routing order: 1 is tried first.
    #[serde(default = "default_priority")]
    #[schemars(range(min = 1, max = 1000))]
    pub priority: i32,
    /// Disabled providers are probed but never routed to.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How the operator checks the provider.
    #[serde(default)]
    pub probe: ProbePolicy,
}

/// Wire protocol of a provider.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderApi {
    Openai,
    Anthropic,
    Gemini,
    OpenaiCompatible,
}

/// What a model can be used for.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    Chat,
    Code,
    Embeddings,
    Vision,
}

crate::common::text_enum!(Capability {
    Chat,
    Code,
    Embeddings,
    Vision
});

impl Capability {
    /// The form `javari_provider_models.capabilities` stores (as in the resource).
    pub fn db_text(self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

/// One model and its price per 1,000 tokens in US dollars.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderModel {
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    #[schemars(range(min = 0.0))]
    pub input_cost_per1k: f64,
    #[schemars(range(min = 0.0))]
    pub output_cost_per1k: f64,
    #[serde(default = "default_capabilities")]
    #[schemars(length(min = 1))]
    pub capabilities: Vec<Capability>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub context_window: Option<i64>,
}

/// Requests and tokens per minute the provider accepts from us.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    #[schemars(range(min = 1))]
    pub requests_per_minute: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tokens_per_minute: Option<i64>,
}

/// Interval and timeout of the operator's health probe: an interval of at least 1s, and a
/// timeout shorter than it, so probes never pile up.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(concat!(crate::cel_duration_ms!("self.interval"), " >= 1000")).message("probe.interval must be at least 1s").field_path(".interval"))]
#[x_kube(validation = Rule::new(concat!(crate::cel_duration_ms!("self.timeout"), " < ", crate::cel_duration_ms!("self.interval"))).message("probe.timeout must be shorter than probe.interval").field_path(".timeout"))]
pub struct ProbePolicy {
    #[serde(default = "default_probe_interval")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub interval: String,
    #[serde(default = "default_probe_timeout")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub timeout: String,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            interval: default_probe_interval(),
            timeout: default_probe_timeout(),
        }
    }
}

/// Health of a provider as seen by the probe.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProviderHealth {
    /// Answers authenticated calls quickly.
    Operational,
    /// Answers, but slowly or rate-limited.
    Degraded,
    /// Refuses, fails or does not answer; routing skips it.
    Down,
    #[default]
    Unknown,
}

crate::common::text_enum!(ProviderHealth {
    Operational,
    Degraded,
    Down,
    Unknown
});

impl ProviderHealth {
    /// The form `javari_providers.health` stores (lower case).
    pub fn db_text(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// `javari_providers.health` read back: any case; none yet, or text it does not know,
    /// is `Unknown`.
    pub fn from_db_text(text: Option<&str>) -> Self {
        text.and_then(|t| t.parse().ok()).unwrap_or_default()
    }
}

/// For rows decoded by sqlx (`#[sqlx(try_from = "Option<String>")]`).
impl From<Option<String>> for ProviderHealth {
    fn from(text: Option<String>) -> Self {
        Self::from_db_text(text.as_deref())
    }
}

/// Observed state of a Provider.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub health: ProviderHealth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_at: Option<Time>,
    #[serde(default)]
    pub consecutive_failures: i32,
    /// Last probe error, without any secret material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn default_priority() -> i32 {
    100
}
fn default_true() -> bool {
    true
}
fn default_capabilities() -> Vec<Capability> {
    vec![Capability::Chat]
}
fn default_probe_interval() -> String {
    "60s".to_owned()
}
fn default_probe_timeout() -> String {
    "10s".to_owned()
}
