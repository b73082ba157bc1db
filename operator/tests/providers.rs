//! The Provider controller against the fake OpenAI/Anthropic/Gemini server: operational, then
//! down during a scripted outage, degraded when rate limited, then operational again; health,
//! latency and model prices land in status and in the providers tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use javari_core::vault::{Keyring, MasterKey, Vault};
use javari_crds::Provider;
use javari_crds::provider::ProviderHealth;
use javari_operator::Context;
use javari_operator::metrics::Metrics;
use javari_operator::timer::Timer;
use javari_testenv::{Behaviour, ControlPlane, FakeProvider, fresh_database};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tokio::sync::oneshot;

const KEY: &str = "sk-fake-0123456789";

async fn all_health(api: &Api<Provider>, want: ProviderHealth) -> Vec<Provider> {
    let started = Instant::now();
    loop {
        let list = api.list(&Default::default()).await.expect("list").items;
        if list.len() == 3
            && list
                .iter()
                .all(|p| p.status.as_ref().is_some_and(|s| s.health == want))
        {
            return list;
        }
        let seen: Vec<_> = list
            .iter()
            .map(|p| p.status.as_ref().map(|s| (s.health, s.last_error.clone())))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "providers not all {want:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn probes_follow_the_providers_health() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeProvider::start(KEY).await.expect("fake provider");
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let database_url = fresh_database().await.expect("database");
    let pool = javari_core::db::connect(&database_url, 5)
        .await
        .expect("connect");
    javari_core::db::migrate(&pool).await.expect("migrate");

    // The API key reaches the probe through a Credential imported from a Secret.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    let source = serde_json::from_value(
        json!({"metadata": {"name": "ai-keys", "annotations": {"javari.ai/credential": "ai-key"}}, "stringData": {"key": KEY}}),
    )
    .expect("secret");
    secrets
        .create(&PostParams::default(), &source)
        .await
        .expect("secret");
    let credentials: Api<javari_crds::Credential> = Api::namespaced(client.clone(), &ns);
    let cred = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential", "metadata": {"name": "ai-key"},
        "spec": {"service": "ai", "source": {"secretRef": {"name": "ai-keys", "key": "key"}}}}))
    .expect("credential");
    credentials
        .create(&PostParams::default(), &cred)
        .await
        .expect("credential");

    let providers: Api<Provider> = Api::namespaced(client.clone(), &ns);
    for (name, api, path, model, input, output) in [
        (
            "openai",
            "openai",
            "/openai/v1",
            "gpt-4o-mini",
            0.00015,
            0.0006,
        ),
        (
            "anthropic",
            "anthropic",
            "/anthropic",
            "claude-3-5-sonnet-20241022",
            0.003,
            0.015,
        ),
        (
            "gemini",
            "gemini",
            "/gemini/v1beta",
            "gemini-1.5-flash",
            0.000075,
            0.0003,
        ),
    ] {
        let p = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Provider", "metadata": {"name": name},
            "spec": {"api": api, "endpoint": format!("{}{path}", fake.url()), "credentialRef": {"name": "ai-key"},
                     "probe": {"interval": "1s", "timeout": "900ms"},
                     "models": [{"name": model, "inputCostPer1k": input, "outputCostPer1k": output}]}}))
        .expect("provider");
        providers
            .create(&PostParams::default(), &p)
            .await
            .expect("create provider");
    }

    let (timer, wake) = Timer::start().await.expect("timer");
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let ctx = Arc::new(
        Context::new(client.clone(), vault, Arc::new(Metrics::new()), timer)
            .watching(Some(ns.clone())),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(javari_operator::run_controllers(ctx, wake, async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    while credentials
        .get("ai-key")
        .await
        .expect("get")
        .status
        .and_then(|s| s.version)
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "credential not imported: {:?}",
            credentials.get("ai-key").await.map(|c| c.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = all_health(&providers, ProviderHealth::Operational).await;
    assert!(
        up.iter()
            .all(|p| p.status.as_ref().and_then(|s| s.latency_ms).is_some())
    );
    let rows: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT name, health, latency_ms FROM javari_providers WHERE namespace = $1 ORDER BY name",
    )
    .bind(&ns)
    .fetch_all(&pool)
    .await
    .expect("providers table");
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|(_, health, latency)| health == "operational" && latency.is_some()),
        "{rows:?}"
    );
    let price: f64 = sqlx::query_scalar(
        "SELECT m.output_cost_per_1k::float8 FROM javari_provider_models m JOIN javari_providers p ON p.id = m.provider_id \
         WHERE p.namespace = $1 AND p.name = 'anthropic' AND m.model = 'claude-3-5-sonnet-20241022'",
    )
    .bind(&ns)
    .fetch_one(&pool)
    .await
    .expect("model price");
    assert!((price - 0.015).abs() < 1e-9, "{price}");

    fake.set(Behaviour::Down).await.expect("outage");
    let down = all_health(&providers, ProviderHealth::Down).await;
    for p in &down {
        let status = p.status.as_ref().expect("status");
        assert!(
            status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("refused")),
            "{:?}",
            status.last_error
        );
        assert!(status.consecutive_failures >= 1);
        assert!(
            !status
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains(KEY)
        );
    }

    fake.set(Behaviour::Status(429)).await.expect("rate limit");
    all_health(&providers, ProviderHealth::Degraded).await;
    fake.set(Behaviour::Status(401)).await.expect("bad key");
    let refused = all_health(&providers, ProviderHealth::Down).await;
    assert!(refused.iter().all(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.last_error.clone())
            .is_some_and(|e| e.contains("401"))
    }));

    fake.set(Behaviour::Healthy).await.expect("recovery");
    let recovered = all_health(&providers, ProviderHealth::Operational).await;
    assert!(recovered.iter().all(|p| {
        p.status
            .as_ref()
            .is_some_and(|s| s.consecutive_failures == 0 && s.last_error.is_none())
    }));
    assert!(
        fake.requests() >= 12,
        "probes reached the fake: {}",
        fake.requests()
    );
    drop(stop);
    task.await.expect("stopped");
}
