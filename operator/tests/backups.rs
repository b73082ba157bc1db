//! The BackupPolicy controller on a real kube-apiserver and PostgreSQL: an `immediate` first
//! backup of the platform's own database, `verify-now` running a drill, `backup-now` another
//! backup, a missing database Secret making the policy Degraded, and a stale policy opening
//! an incident.

mod support;

use std::path::PathBuf;

use chrono::{Duration as ChronoDuration, Utc};
use javari_core::backups::{Destination, StoreConfig, restorable_in_store};
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BACKUP_NOW_ANNOTATION, VERIFY_NOW_ANNOTATION, VerificationLevel};
use javari_operator::backups::Settings;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Harness, Running, wait_for};
use uuid::Uuid;

struct Env {
    h: Harness,
    operator: Running,
    dir: PathBuf,
    staging: PathBuf,
}

impl Env {
    async fn start() -> Env {
        let h = Harness::new().await;
        let dir = std::env::temp_dir().join(format!("javari-op-backups-{}", Uuid::new_v4()));
        // A staging dir of the test's own, removed with it.
        let staging = std::env::temp_dir().join(format!("javari-op-staging-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&staging).expect("staging dir");
        let settings = Settings {
            dir: dir.clone(),
            staging_dir: staging.clone(),
            database_url: Some(h.database_url.clone()),
            concurrency: 1,
        };
        let operator = h.start(|c| c.with_backups(settings)).await;
        Env {
            h,
            operator,
            dir,
            staging,
        }
    }

    fn api(&self) -> Api<BackupPolicy> {
        Api::namespaced(self.h.client.clone(), &self.h.ns)
    }

    async fn create(&self, name: &str, spec: Value) {
        let p: BackupPolicy = serde_json::from_value(json!({
            "apiVersion": "javari.ai/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": name}, "spec": spec
        }))
        .expect("policy");
        self.api()
            .create(&PostParams::default(), &p)
            .await
            .expect("create policy");
    }

    async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .expect("annotate");
    }

    async fn stop(self) {
        self.operator.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

#[tokio::test]
async fn immediate_backup_then_verify_now_drill_then_backup_now() {
    let env = Env::start().await;
    env.create(
        "platform",
        json!({"immediate": true, "schedule": "0 3 1 1 *", "drill": {"schedule": "0 4 1 1 *"}}),
    )
    .await;
    let status = wait_for("the immediate backup", async || {
        let s = env.api().get("platform").await.ok()?.status?;
        (s.backups == 1 && s.last_completed_at.is_some()).then_some(s)
    })
    .await;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "BackupCompleted")
    );
    assert!(status.last_error.is_none());
    // Checksums and catalog were verified right after the backup.
    assert_eq!(
        status.last_verification_level,
        Some(VerificationLevel::Catalog)
    );
    let dest = Destination::open(&StoreConfig {
        url: format!("file://{}", env.dir.display()),
        endpoint: None,
        region: None,
        keys: None,
    })
    .expect("store");
    let key = format!("{}/platform", env.h.ns);
    let stored = restorable_in_store(&dest, &key).await.expect("list");
    assert_eq!(
        stored.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![status.last_backup_id.clone().expect("id")]
    );

    env.annotate("platform", VERIFY_NOW_ANNOTATION, "1").await;
    let drilled = wait_for("the drill", async || {
        let s = env.api().get("platform").await.ok()?.status?;
        (s.last_verification_level == Some(VerificationLevel::Drill)).then_some(s)
    })
    .await;
    assert!(drilled.last_drill_rto_seconds.expect("RTO") > 0.0);
    assert_eq!(drilled.last_verify_request.as_deref(), Some("1"));
    let drills: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_backup_verifications WHERE level = 'drill' AND ok",
    )
    .fetch_one(env.h.pool())
    .await
    .expect("drills");
    assert_eq!(drills, 1);

    env.annotate("platform", BACKUP_NOW_ANNOTATION, "2026-11-28T14:00:00Z")
        .await;
    let again = wait_for("the requested backup", async || {
        let s = env.api().get("platform").await.ok()?.status?;
        (s.backups == 2).then_some(s)
    })
    .await;
    assert_eq!(
        again.last_backup_request.as_deref(),
        Some("2026-11-28T14:00:00Z")
    );
    assert_eq!(
        restorable_in_store(&dest, &key).await.expect("list").len(),
        2
    );
    env.stop().await;
}

#[tokio::test]
async fn a_missing_database_secret_makes_the_policy_degraded() {
    let env = Env::start().await;
    env.create(
        "team-db",
        json!({"immediate": true, "database": {"secretRef": {"name": "nope", "key": "url"}}}),
    )
    .await;
    let c = wait_for("Degraded", async || {
        let s = env.api().get("team-db").await.ok()?.status?;
        s.conditions
            .into_iter()
            .find(|c| c.type_ == "Degraded" && c.status == "True")
    })
    .await;
    assert_eq!(c.reason, "SourceUnavailable");
    assert!(c.message.contains("Secret nope not found"), "{}", c.message);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_backups")
        .fetch_one(env.h.pool())
        .await
        .expect("rows");
    assert_eq!(rows, 0, "nothing started");
    env.stop().await;
}

#[tokio::test]
async fn a_stale_policy_opens_an_incident() {
    let env = Env::start().await;
    // The newest verified backup of the policy is two days old; staleAfter is 1h.
    let old = Utc::now() - ChronoDuration::days(2);
    sqlx::query(
        "INSERT INTO javari_backups (kind, status, policy, sha256, snapshot_at, finished_at, started_at, verified_at, verification_level) \
         VALUES ('logical', 'verified', $1, repeat('a', 64), $2, $2, $2, $2, 'drill')",
    )
    .bind(format!("{}/old", env.h.ns))
    .bind(old)
    .execute(env.h.pool())
    .await
    .expect("old backup");
    env.create(
        "old",
        json!({"schedule": "0 3 1 1 *", "drill": {"schedule": "0 4 1 1 *"}, "staleAfter": "1h", "severity": "P1"}),
    )
    .await;
    let s = wait_for("the stale incident", async || {
        let s = env.api().get("old").await.ok()?.status?;
        s.open_incident.is_some().then_some(s)
    })
    .await;
    let ready = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "BackupStale")
    );
    let (severity, source_kind): (String, String) =
        sqlx::query_as("SELECT severity, source_kind FROM javari_incidents WHERE dedup_key = $1")
            .bind(format!("backup-stale:{}/old", env.h.ns))
            .fetch_one(env.h.pool())
            .await
            .expect("incident");
    assert_eq!(
        (severity.as_str(), source_kind.as_str()),
        ("P1", "BackupPolicy")
    );
    env.stop().await;
}
