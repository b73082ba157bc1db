//! Project: an application of the platform, reconciled into a Deployment and a Service.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{CredentialKeyRef, Health, LocalRef};

/// Annotation that asks for a rollback to the last known good revision; its value is any new
/// token (a timestamp, an incident id). The console and Monitor actions set it too.
pub const ROLLBACK_ANNOTATION: &str = "javari.ai/rollback";

/// Desired state of a Project.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "javari.ai",
    version = "v1alpha1",
    kind = "Project",
    namespaced,
    status = "ProjectStatus",
    shortname = "jproj",
    category = "javari",
    printcolumn(name = "Image", type_ = "string", json_path = ".status.deployedImage"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    validation = Rule::new("!has(self.spec.parent) || self.spec.parent.name != self.metadata.name").message("a Project cannot be its own parent").field_path(".spec.parent.name")
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Human-readable name shown in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Container image. `{{commit}}` is replaced by the head commit of `github.branch`.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Number of pods.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Port the application listens on; the Service exposes it.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Plain environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Credentials exposed to the application as environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialEnv>,
    /// HTTP path answering the application's health check.
    #[serde(default = "default_health_path")]
    #[schemars(regex(pattern = r"^/"))]
    pub health_path: String,
    /// The project this one belongs to (same namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<LocalRef>,
    /// Source repository, read with the GitHub API to resolve the deployed commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GitHubRepo>,
    /// Automatic rollback to the last known good revision.
    #[serde(default)]
    pub rollback: RollbackPolicy,
    /// CPU and memory requests and limits of the application container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}

/// One credential mounted as an environment variable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialEnv {
    /// Environment variable name.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub env: String,
    /// The Credential and key to read.
    pub credential_ref: CredentialKeyRef,
}

/// A GitHub repository and branch.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GitHubRepo {
    /// Owner (user or organisation).
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"))]
    pub owner: String,
    /// Repository name.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,100}$"))]
    pub repo: String,
    /// Branch whose head is deployed.
    #[serde(default = "default_branch")]
    #[schemars(length(min = 1, max = 255))]
    pub branch: String,
    /// Token for the GitHub API (a Credential in the same namespace); public repositories
    /// work without one, within GitHub's anonymous rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<CredentialKeyRef>,
}

/// When and how far back a Project rolls back.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RollbackPolicy {
    /// Roll back automatically when a Monitor with the rollback action fails.
    #[serde(default = "default_true")]
    pub auto: bool,
    /// Revisions remembered in status.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 1, max = 50))]
    pub history_limit: i32,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        Self {
            auto: true,
            history_limit: default_history_limit(),
        }
    }
}

/// A deployed revision: the image and the commit it was built from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Time>,
}

/// One rollback performed by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRecord {
    pub from: Revision,
    pub to: Revision,
    pub reason: String,
    pub at: Time,
}

/// Observed state of a Project.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Worst health of the Project's children.
    #[serde(default)]
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_commit: Option<String>,
    /// The revision a rollback restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known_good: Option<Revision>,
    /// Images that failed; never rolled back to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_bad_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<RollbackRecord>,
    /// When the deployed image last changed; Monitors must pass after it before the image
    /// counts as known good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_out_at: Option<Time>,
    /// The last rollback annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rollback_request: Option<String>,
    /// The commit last reported to GitHub as deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_commit: Option<String>,
}

fn default_replicas() -> i32 {
    1
}
fn default_port() -> i32 {
    3000
}
fn default_health_path() -> String {
    "/api/health".to_owned()
}
fn default_branch() -> String {
    "main".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_history_limit() -> i32 {
    10
}
