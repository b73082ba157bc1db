//! Monitor: a health check as code (Gatus-like) with thresholds and actions on failure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{LocalRef, Severity};
use crate::duration::{CRON_PATTERN, DURATION_PATTERN};

/// Shortest Monitor interval: one check a second per Monitor is the most the operator runs.
pub const MIN_INTERVAL: &str = "1s";
/// Set to any value to run one check at once; the operator removes it when it has started
/// the check (a check already running answers it).
pub const CHECK_NOW_ANNOTATION: &str = "javari.ai/check-now";

/// The grammar of a check condition: `[STATUS] == 200`, `[RESPONSE_TIME] < 500`,
/// `[BODY].status == UP`, `[CERTIFICATE_EXPIRATION] > 240h`.
pub const CONDITION_PATTERN: &str = r"^\[(STATUS|RESPONSE_TIME|CERTIFICATE_EXPIRATION|BODY)\](\.[A-Za-z0-9_\-\[\]\.]+)?[ ]*(==|!=|<=|>=|<|>)[ ]*[^ ].*$";

/// Desired state of a Monitor.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "javari.ai",
    version = "v1alpha1",
    kind = "Monitor",
    namespaced,
    status = "MonitorStatus",
    shortname = "jmon",
    category = "javari",
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(
        name = "Failures",
        type_ = "integer",
        json_path = ".status.consecutiveFailures"
    ),
    printcolumn(
        name = "Uptime-24h",
        type_ = "string",
        json_path = ".status.uptime.last24h"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.projectRef) != has(self.url)").message("exactly one of projectRef or url must be set"))]
#[x_kube(validation = Rule::new("!(has(self.interval) && has(self.schedule))").message("set interval or schedule, not both"))]
#[x_kube(validation = Rule::new("!has(self.actions) || !self.actions.rollback || has(self.projectRef)").message("actions.rollback requires projectRef").field_path(".actions.rollback"))]
#[x_kube(validation = Rule::new(concat!("!has(self.interval) || ", crate::cel_duration_ms!("self.interval"), " >= 1000")).message("interval must be at least 1s").field_path(".interval"))]
#[x_kube(validation = Rule::new(concat!("has(self.schedule) || !has(self.request) || !has(self.request.timeout) || ", crate::cel_duration_ms!("self.request.timeout"), " < (has(self.interval) ? ", crate::cel_duration_ms!("self.interval"), " : 60000)")).message("request.timeout must be shorter than interval (60s when not set), so a check ends before the next one is due").field_path(".request.timeout"))]
#[serde(rename_all = "camelCase")]
pub struct MonitorSpec {
    /// The Project whose health path is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_ref: Option<LocalRef>,
    /// An absolute URL to check instead of a Project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/$.?#].[^\s]*$"))]
    pub url: Option<String>,
    /// Time between checks (default 60s, at least 1s). A tick that comes while the previous
    /// check still runs is skipped (and counted), never stacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub interval: Option<String>,
    /// Cron schedule instead of an interval (5 fields, or 6 with seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CRON_PATTERN))]
    pub schedule: Option<String>,
    #[serde(default)]
    pub request: CheckRequest,
    /// All must hold for a check to pass.
    #[serde(default = "default_conditions")]
    #[schemars(length(min = 1, max = 32), inner(regex(pattern = CONDITION_PATTERN)))]
    pub conditions: Vec<String>,
    /// Consecutive failures before the Monitor is Down and actions run.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: i32,
    /// Consecutive successes before a Down Monitor is Up again.
    #[serde(default = "default_success_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: i32,
    #[serde(default)]
    pub severity: Severity,
    /// Response-time percentiles that raise warnings and critical alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyThresholds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<MonitorActions>,
    /// Stop checking without deleting history.
    #[serde(default)]
    pub suspend: bool,
}

/// The HTTP request a check sends.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckRequest {
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Longest wait for an answer; shorter than the Monitor's interval.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub timeout: String,
    /// Accept a certificate that does not verify (self-signed targets). The certificate's
    /// expiry is still read for `[CERTIFICATE_EXPIRATION]`.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl Default for CheckRequest {
    fn default() -> Self {
        Self {
            method: HttpMethod::default(),
            headers: BTreeMap::new(),
            body: None,
            timeout: default_timeout(),
            insecure_skip_verify: false,
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
}

/// p99 latency thresholds in milliseconds; warning must be below critical.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.warningMs < self.criticalMs").message("warningMs must be below criticalMs"))]
pub struct LatencyThresholds {
    #[schemars(range(min = 1))]
    pub warning_ms: i64,
    #[schemars(range(min = 1))]
    pub critical_ms: i64,
}

/// What happens when the failure threshold is reached.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MonitorActions {
    /// Open (or join, by dedup key) an incident.
    #[serde(default = "default_true")]
    pub open_incident: bool,
    /// Roll the target Project back to its last known good revision.
    #[serde(default)]
    pub rollback: bool,
    /// Mark this Provider unhealthy so chat fails over to the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_provider: Option<LocalRef>,
    /// POST a JSON alert here on failure and on recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/$.?#].[^\s]*$"))]
    pub webhook: Option<String>,
    /// Runbook (file name under runbooks/) linked from the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub runbook: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MonitorState {
    Up,
    Down,
    Suspended,
    #[default]
    Unknown,
}

/// Uptime percentages over the usual windows, e.g. `99.95`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Uptime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last1h: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last24h: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last7d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last30d: Option<String>,
}

/// Response-time percentiles over the last 24 hours.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPercentiles {
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
}

/// Observed state of a Monitor.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonitorStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub state: MonitorState,
    #[serde(default)]
    pub consecutive_failures: i32,
    #[serde(default)]
    pub consecutive_successes: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_at: Option<Time>,
    /// Why the last check failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub uptime: Uptime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyPercentiles>,
    /// Id of the incident opened by this Monitor and not yet resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_incident: Option<String>,
}

fn default_conditions() -> Vec<String> {
    vec!["[STATUS] == 200".to_owned()]
}
fn default_failure_threshold() -> i32 {
    3
}
fn default_success_threshold() -> i32 {
    1
}
fn default_timeout() -> String {
    "10s".to_owned()
}
fn default_true() -> bool {
    true
}
