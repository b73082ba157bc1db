//! Credential: a secret kept encrypted in the vault, materialized as a Secret and rotated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::{CRON_PATTERN, DURATION_PATTERN};

/// Annotation that asks for an immediate rotation; its value is any new token (e.g. a timestamp).
pub const ROTATE_NOW_ANNOTATION: &str = "javari.ai/rotate-now";

/// Desired state of a Credential.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "javari.ai",
    version = "v1alpha1",
    kind = "Credential",
    namespaced,
    status = "CredentialStatus",
    shortname = "jcred",
    category = "javari",
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "Version", type_ = "integer", json_path = ".status.version"),
    printcolumn(
        name = "Next-Rotation",
        type_ = "string",
        json_path = ".status.nextRotationAt"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSpec {
    /// The service the secret belongs to, e.g. `github`, `openai`, `postgres`.
    #[schemars(length(min = 1, max = 100))]
    pub service: String,
    #[serde(rename = "type", default)]
    pub credential_type: CredentialType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the value comes from.
    pub source: CredentialSource,
    /// Name of the materialized Secret (default: the Credential's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPolicy>,
    /// When an imported or external value stops working (used with `rotation.renewBefore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Encrypted snapshots kept for recovery.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub revision_history_limit: i32,
    /// Workloads restarted when the version changes, besides Projects that reference it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub rollout_restart_targets: Vec<RolloutTarget>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CredentialType {
    #[default]
    ApiKey,
    Token,
    Password,
    DatabasePassword,
    Other,
}

impl CredentialType {
    /// As the vault's `credential_type` column holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::ApiKey => "apiKey",
            CredentialType::Token => "token",
            CredentialType::Password => "password",
            CredentialType::DatabasePassword => "databasePassword",
            CredentialType::Other => "other",
        }
    }
}

/// Exactly one of `generate`, `secretRef` or `external`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.generate), has(self.secretRef), has(self.external)].filter(x, x).size() == 1").message("source needs exactly one of generate, secretRef or external"))]
pub struct CredentialSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GeneratePolicy>,
    /// Import the value from an existing Secret in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// The value is set through the console API; the controller waits for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalSource>,
}

/// Password generator policy (like External Secrets' Password generator).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GeneratePolicy {
    #[serde(default = "default_length")]
    #[schemars(range(min = 12, max = 256))]
    pub length: i32,
    #[serde(default = "default_true")]
    pub digits: bool,
    #[serde(default = "default_true")]
    pub uppercase: bool,
    #[serde(default)]
    pub symbols: bool,
    /// Characters may repeat.
    #[serde(default = "default_true")]
    pub allow_repeat: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSource {
    /// Who is expected to set the value (shown in status while waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// When to rotate: a cron `schedule` or `everyDays`, not both.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.schedule) != has(self.everyDays)").message("a rotation has a schedule or everyDays, not both"))]
#[x_kube(validation = Rule::new(concat!("!has(self.everyDays) || !has(self.gracePeriod) || ", crate::cel_duration_ms!("self.gracePeriod"), " < self.everyDays * 86400000")).message("gracePeriod must be shorter than the rotation period (everyDays): the previous value must expire before the next rotation").field_path(".gracePeriod"))]
pub struct RotationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CRON_PATTERN))]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub every_days: Option<i32>,
    /// How long the previous value stays valid (as `previous` in the Secret); shorter than
    /// `everyDays`.
    #[serde(default = "default_grace_period")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub grace_period: String,
    /// Rotate this long before `expiresAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub renew_before: Option<String>,
}

/// A workload restarted when the credential's version changes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTarget {
    #[serde(default)]
    pub kind: RolloutKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RolloutKind {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// Result of one consumer restart.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestartRecord {
    pub kind: RolloutKind,
    pub name: String,
    /// Content hash of the version the workload was told to run.
    pub hash: String,
    pub result: String,
    pub at: Time,
}

/// Observed state of a Credential.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Current vault version (1 on creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Content hash of the current version (never the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_ends_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// The last `rotate-now` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotate_request: Option<String>,
    #[serde(default)]
    pub failed_attempts: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<RestartRecord>,
}

fn default_history_limit() -> i32 {
    5
}
fn default_length() -> i32 {
    32
}
fn default_true() -> bool {
    true
}
fn default_grace_period() -> String {
    "7d".to_owned()
}
