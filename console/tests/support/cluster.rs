//! Javari resources on the test control plane for the console's tests: a namespace of its
//! own, and a Project, Monitors (one public, Down), a Provider and Credentials (one due in
//! three days) with the status the operator would write.

use std::time::Duration;

use javari_console::Settings;
use javari_crds::{Credential, Monitor, Project, Provider};
use javari_testenv::ControlPlane;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::test_settings;

pub async fn cluster() -> (Client, String) {
    javari_core::http::install_crypto_provider();
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    (client, ns)
}

pub fn settings() -> Settings {
    Settings {
        status_cache_ttl: Duration::ZERO,
        ..test_settings()
    }
}

pub async fn create<K>(client: &Client, ns: &str, body: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let object: K = serde_json::from_value(body).expect("valid object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("created")
}

/// Writes `status` as the operator would.
pub async fn set_status<K>(client: &Client, ns: &str, name: &str, status: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
    .expect("status");
}

pub async fn fixtures(client: &Client, ns: &str) {
    create::<Project>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"image": "registry.local/web:2"}}),
    )
    .await;
    set_status::<Project>(
        client,
        ns,
        "web",
        json!({"health": "Degraded", "deployedImage": "registry.local/web:2",
               "deployedCommit": "abc1234",
               "lastKnownGood": {"image": "registry.local/web:1", "commit": "9f00d1e"}}),
    )
    .await;
    create::<Monitor>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
               "metadata": {"name": "web-health", "namespace": ns,
                            "labels": {"javari.ai/status-page": "public"},
                            "annotations": {"javari.ai/status-name": "Public web"}},
               "spec": {"projectRef": {"name": "web"}, "interval": "30s"}}),
    )
    .await;
    set_status::<Monitor>(
        client,
        ns,
        "web-health",
        json!({"state": "Down", "consecutiveFailures": 3, "lastError": "[STATUS] == 200 (got 503)"}),
    )
    .await;
    create::<Monitor>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
               "metadata": {"name": "internal-db", "namespace": ns},
               "spec": {"url": "http://127.0.0.1:9/db", "interval": "30s"}}),
    )
    .await;
    set_status::<Monitor>(client, ns, "internal-db", json!({"state": "Up"})).await;
    create::<Provider>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Provider",
               "metadata": {"name": "local-llm", "namespace": ns},
               "spec": {"api": "openai-compatible", "endpoint": "http://127.0.0.1:9/v1",
                        "models": [{"name": "llama", "inputCostPer1k": 0.0, "outputCostPer1k": 0.0}]}}),
    )
    .await;
    create::<Credential>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
               "metadata": {"name": "db-password", "namespace": ns},
               "spec": {"service": "postgres", "source": {"generate": {"length": 24}},
                        "rotation": {"everyDays": 90}}}),
    )
    .await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::days(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    set_status::<Credential>(
        client,
        ns,
        "db-password",
        json!({"version": 3, "nextRotationAt": soon}),
    )
    .await;
    create::<Credential>(
        client,
        ns,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
               "metadata": {"name": "far-key", "namespace": ns},
               "spec": {"service": "github", "source": {"generate": {"length": 24}}}}),
    )
    .await;
    let later = (chrono::Utc::now() + chrono::TimeDelta::days(60))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    set_status::<Credential>(
        client,
        ns,
        "far-key",
        json!({"version": 1, "nextRotationAt": later}),
    )
    .await;
    // A Secret with the Credential's name: its value must never reach a page.
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db-password", "namespace": ns},
        "stringData": {"value": "s3cr3t-db-value-0042"}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}
