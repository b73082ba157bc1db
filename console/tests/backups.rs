//! The Backups page on a real PostgreSQL (and kube-apiserver for the actions): policies with
//! RPO now and the last drill's RTO, backups with size, ratio and verification level; admins
//! ask for a backup or a drill through the BackupPolicy's annotations; viewers cannot.

mod support;

use chrono::{Duration, Utc};
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BACKUP_NOW_ANNOTATION, VERIFY_NOW_ANNOTATION};
use javari_testenv::ControlPlane;
use kube::Api;
use kube::api::PostParams;
use sqlx::PgPool;
use support::{Harness, serve};
use uuid::Uuid;

async fn seed(pool: &PgPool, policy: &str) -> Uuid {
    let id = Uuid::new_v4();
    let at = Utc::now() - Duration::hours(3);
    sqlx::query(
        "INSERT INTO javari_backups (id, kind, status, policy, sha256, size_bytes, original_bytes, duration_ms, \
           snapshot_at, finished_at, started_at, verified_at, verification_level) \
         VALUES ($1, 'logical', 'verified', $2, repeat('b', 64), 2097152, 8388608, 4200, $3, $3, $3, $3, 'drill')",
    )
    .bind(id)
    .bind(policy)
    .bind(at)
    .execute(pool)
    .await
    .expect("backup row");
    sqlx::query(
        "INSERT INTO javari_backup_verifications (backup_id, level, ok, restore_ms, bytes_per_second) VALUES ($1, 'drill', true, 12345, 1000000)",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("drill row");
    id
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_page_shows_rpo_rto_ratio_and_verification(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let id = seed(&pool, "prod/platform-db").await;
    let html = h
        .http
        .get(h.url("/backups"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("prod/platform-db"), "{html}");
    assert!(html.contains(&id.to_string()));
    assert!(
        html.contains("3h 0m") || html.contains("2h 59m"),
        "RPO now: {html}"
    );
    assert!(html.contains("12.3s"), "last drill RTO");
    assert!(html.contains("4.0×"), "compression ratio");
    assert!(html.contains("2.0 MiB") && html.contains("8.0 MiB"));
    assert!(html.contains("drill"));
    assert!(!html.contains("Backup now"), "no actions for a viewer");

    let refused = h
        .http
        .post(h.url("/backups/prod/platform-db/backup-now"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("post");
    assert_eq!(
        refused.status().as_u16(),
        403,
        "viewers cannot ask for a backup"
    );
    let unavailable = h
        .http
        .post(h.url("/backups/prod/platform-db/backup-now"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("post");
    assert_eq!(unavailable.status().as_u16(), 503);
    assert!(
        unavailable
            .text()
            .await
            .expect("body")
            .contains("Kubernetes API"),
        "says why"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn admin_actions_annotate_the_backup_policy(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let api: Api<BackupPolicy> = Api::namespaced(client.clone(), &ns);
    let policy: BackupPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "javari.ai/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "platform-db"}, "spec": {}
    }))
    .expect("policy");
    api.create(&PostParams::default(), &policy)
        .await
        .expect("create");
    seed(&pool, &format!("{ns}/platform-db")).await;
    let base = serve(h.state.clone().with_kube(client.clone())).await;
    let html = h
        .http
        .get(format!("{base}/backups"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Backup now") && html.contains("Verify now"));
    for (action, annotation) in [
        ("backup-now", BACKUP_NOW_ANNOTATION),
        ("verify-now", VERIFY_NOW_ANNOTATION),
    ] {
        let r = h
            .http
            .post(format!("{base}/backups/{ns}/platform-db/{action}"))
            .bearer_auth(&h.admin_token)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 303, "{action}");
        let stored = api.get("platform-db").await.expect("policy");
        assert!(
            stored
                .metadata
                .annotations
                .unwrap_or_default()
                .contains_key(annotation),
            "{annotation} set"
        );
    }
    let missing = h
        .http
        .post(format!("{base}/backups/{ns}/nope/backup-now"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status().as_u16(), 404);
}
