//! BackupPolicy: scheduled, encrypted logical backups of a PostgreSQL database, kept by a
//! retention policy and proven restorable by drills (CloudNativePG's ScheduledBackup plus
//! pgBackRest's retention and verify, with a real test restore).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{LocalRef, Severity};
use crate::duration::{CRON_PATTERN, DURATION_PATTERN};

/// Annotation that asks for a backup now; its value is any new token (e.g. a timestamp).
pub const BACKUP_NOW_ANNOTATION: &str = "javari.ai/backup-now";
/// Annotation that asks for a verification (drill) of the newest backup now.
pub const VERIFY_NOW_ANNOTATION: &str = "javari.ai/verify-now";

/// Desired state of a BackupPolicy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "javari.ai",
    version = "v1alpha1",
    kind = "BackupPolicy",
    namespaced,
    status = "BackupPolicyStatus",
    shortname = "jbak",
    category = "javari",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(
        name = "Last-Backup",
        type_ = "date",
        json_path = ".status.lastCompletedAt"
    ),
    printcolumn(
        name = "Verified",
        type_ = "string",
        json_path = ".status.lastVerificationLevel"
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
#[x_kube(validation = Rule::new(concat!(crate::cel_duration_ms!("self.staleAfter"), " >= 3600000")).message("staleAfter must be at least 1h").field_path(".staleAfter"))]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicySpec {
    /// The database to back up: the platform's own when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSource>,
    /// Cron schedule of backups (5 fields, or 6 with seconds).
    #[serde(default = "default_schedule")]
    #[schemars(regex(pattern = CRON_PATTERN))]
    pub schedule: String,
    /// Take a backup as soon as the policy is created (CloudNativePG's `immediate`).
    #[serde(default)]
    pub immediate: bool,
    /// Stop scheduled backups and drills without deleting anything.
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub destination: Destination,
    #[serde(default)]
    pub compression: Compression,
    /// Parallel `pg_dump` jobs (directory format).
    #[serde(default = "default_jobs")]
    #[schemars(range(min = 1, max = 8))]
    pub jobs: i32,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub drill: Drill,
    /// A policy whose newest verified backup is older than this opens an incident.
    #[serde(default = "default_stale_after")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub stale_after: String,
    /// Severity of the stale-backup incident.
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

/// A database reached through a connection URL kept in a Secret of the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSource {
    /// Secret holding a `postgres://` URL.
    pub secret_ref: SecretKeyRef,
}

/// A key of a Secret in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Where backups are stored: a local directory (`file:///…`, the default) or an S3-compatible
/// bucket (`s3://bucket/prefix`) whose keys come from a Credential or a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.url) || !self.url.startsWith('s3://') || has(self.credentialRef) || has(self.secretRef)").message("an s3:// destination needs credentialRef or secretRef for its access keys").field_path(".url"))]
#[x_kube(validation = Rule::new("!(has(self.credentialRef) && has(self.secretRef))").message("set credentialRef or secretRef, not both"))]
#[x_kube(validation = Rule::new("!has(self.endpoint) || (has(self.url) && self.url.startsWith('s3://'))").message("endpoint applies to s3:// destinations only").field_path(".endpoint"))]
pub struct Destination {
    /// `file:///absolute/dir` or `s3://bucket[/prefix]`; the operator's local backup directory
    /// when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^(file:///[^\s]*|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?)$"),
        length(max = 1024)
    )]
    pub url: Option<String>,
    /// S3 endpoint of a compatible store (e.g. `http://minio:9000`); AWS when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/$.?#][^\s]*$"), length(max = 1024))]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// A Credential whose value is `ACCESS_KEY_ID:SECRET_ACCESS_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<LocalRef>,
    /// A Secret holding `accessKeyId` and `secretAccessKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
}

/// zstd compression of every file before encryption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Compression {
    /// zstd level (default 1, the fastest: compression is usually the bottleneck).
    #[serde(default = "default_level")]
    #[schemars(range(min = 1, max = 19))]
    pub level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            level: default_level(),
        }
    }
}

/// Which backups are kept: the newest `keepLast`, plus the newest of each of the last `daily`
/// days, `weekly` ISO weeks and `monthly` months (grandfather-father-son). The newest verified
/// backup is never deleted.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    #[serde(default = "default_keep_last")]
    #[schemars(range(min = 1, max = 1000))]
    pub keep_last: i32,
    #[serde(default = "default_daily")]
    #[schemars(range(min = 0, max = 3660))]
    pub daily: i32,
    #[serde(default = "default_weekly")]
    #[schemars(range(min = 0, max = 520))]
    pub weekly: i32,
    #[serde(default = "default_monthly")]
    #[schemars(range(min = 0, max = 240))]
    pub monthly: i32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_last: default_keep_last(),
            daily: default_daily(),
            weekly: default_weekly(),
            monthly: default_monthly(),
        }
    }
}

/// Restore drills: the newest backup restored into a scratch database and compared with its
/// manifest (schema hash and row counts).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Drill {
    /// Cron schedule of drills (5 fields, or 6 with seconds).
    #[serde(default = "default_drill_schedule")]
    #[schemars(regex(pattern = CRON_PATTERN))]
    pub schedule: String,
    #[serde(default)]
    pub suspend: bool,
}

impl Default for Drill {
    fn default() -> Self {
        Self {
            schedule: default_drill_schedule(),
            suspend: false,
        }
    }
}

/// How far a backup has been proven good.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum VerificationLevel {
    #[default]
    None,
    Checksums,
    Catalog,
    Drill,
}

/// Observed state of a BackupPolicy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Id of the newest complete backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completed_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verification_level: Option<VerificationLevel>,
    /// Restore time of the last successful drill (the RTO achieved), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_rto_seconds: Option<f64>,
    /// When the last backup (scheduled, immediate or requested) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Time>,
    /// When the last drill started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_attempt_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_backup_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drill_at: Option<Time>,
    /// Complete backups currently kept.
    #[serde(default)]
    pub backups: i32,
    /// The last `backup-now` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_request: Option<String>,
    /// The last `verify-now` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verify_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Id of the stale-backup incident opened by this policy and not yet resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_incident: Option<String>,
}

fn default_schedule() -> String {
    "0 3 * * *".to_owned()
}
fn default_drill_schedule() -> String {
    "30 4 * * *".to_owned()
}
fn default_jobs() -> i32 {
    2
}
fn default_level() -> i32 {
    1
}
fn default_keep_last() -> i32 {
    7
}
fn default_daily() -> i32 {
    7
}
fn default_weekly() -> i32 {
    4
}
fn default_monthly() -> i32 {
    3
}
fn default_stale_after() -> String {
    "26h".to_owned()
}
fn default_severity() -> Severity {
    Severity::P1
}
