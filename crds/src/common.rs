//! Types shared by several kinds: references, conditions and the status vocabulary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types every Javari kind reports.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const PROGRESSING: &str = "Progressing";
    pub const DEGRADED: &str = "Degraded";
}

/// A reference to another object of the platform in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalRef {
    /// Name of the referenced object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Credential's materialized Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialKeyRef {
    /// Name of the Credential in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Credential's Secret; `value` is the current version.
    #[serde(default = "default_credential_key")]
    pub key: String,
}

pub fn default_credential_key() -> String {
    "value".to_owned()
}

/// Health of a workload, worst-of-children, in Argo CD's vocabulary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Health {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    #[default]
    Unknown,
}

/// Incident severity, P0 (platform down) to P3 (minor).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum Severity {
    P0,
    P1,
    #[default]
    P2,
    P3,
}
