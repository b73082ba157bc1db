//! The operator as no one's deputy: a Credential can neither borrow nor import a Secret that
//! is not its own, so the Secret's value never reaches an endpoint a Provider names; and a
//! deleted Provider leaves the table the console routes by.

mod support;

use javari_crds::{Credential, Provider};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;
use support::{Harness, wait_for};

const VICTIM_VALUE: &str = "sk-victim-0123456789";

fn degraded_reason(c: &Credential) -> Option<String> {
    c.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded" && c.status == "True")
        .map(|c| c.reason.clone())
}

#[tokio::test]
async fn a_credential_naming_a_secret_it_does_not_own_is_degraded_and_the_value_reaches_no_endpoint()
 {
    let h = Harness::new().await;
    // Accepts the victim's key: a probe that carried it would be answered (and counted).
    let fake = javari_testenv::FakeProvider::start(VICTIM_VALUE)
        .await
        .expect("fake provider");
    let secrets: Api<Secret> = Api::namespaced(h.client.clone(), &h.ns);
    for name in ["team-db", "team-token"] {
        let secret = serde_json::from_value(
            json!({"metadata": {"name": name}, "stringData": {"value": VICTIM_VALUE}}),
        )
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }
    let before = secrets.get("team-db").await.expect("get");

    let credentials: Api<Credential> = Api::namespaced(h.client.clone(), &h.ns);
    for (name, spec) in [
        (
            "borrower",
            json!({"service": "ai", "secretName": "team-db", "source": {"external": {}}}),
        ),
        (
            "importer",
            json!({"service": "ai", "source": {"secretRef": {"name": "team-token", "key": "value"}}}),
        ),
    ] {
        let c = serde_json::from_value(
            json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
            "metadata": {"name": name}, "spec": spec}),
        )
        .expect("credential");
        credentials
            .create(&PostParams::default(), &c)
            .await
            .expect("create credential");
    }
    let providers: Api<Provider> = Api::namespaced(h.client.clone(), &h.ns);
    for (name, credential) in [("via-borrower", "borrower"), ("via-importer", "importer")] {
        let p = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Provider", "metadata": {"name": name},
            "spec": {"api": "openai", "endpoint": format!("{}/openai/v1", fake.url()),
                     "credentialRef": {"name": credential, "key": "value"},
                     "probe": {"interval": "1s", "timeout": "900ms"},
                     "models": [{"name": "gpt-4o-mini", "inputCostPer1k": 0, "outputCostPer1k": 0}]}}))
        .expect("provider");
        providers
            .create(&PostParams::default(), &p)
            .await
            .expect("create provider");
    }

    let running = h.start(|c| c).await;
    let borrower = wait_for("the borrowing Credential Degraded", async || {
        let c = credentials.get("borrower").await.ok()?;
        degraded_reason(&c).is_some().then_some(c)
    })
    .await;
    assert_eq!(
        degraded_reason(&borrower).as_deref(),
        Some("SecretNotOwned")
    );
    let importer = wait_for("the importing Credential Degraded", async || {
        let c = credentials.get("importer").await.ok()?;
        degraded_reason(&c).is_some().then_some(c)
    })
    .await;
    assert_eq!(
        degraded_reason(&importer).as_deref(),
        Some("SourceSecretNotOptedIn")
    );
    let message = importer
        .status
        .as_ref()
        .and_then(|s| s.last_error.clone())
        .unwrap_or_default();
    assert!(message.contains("javari.ai/credential"), "{message}");
    assert!(!message.contains(VICTIM_VALUE));

    // Both Providers were probed (status written) without the key ever being sent.
    for name in ["via-borrower", "via-importer"] {
        let status = wait_for("the Provider probed", async || {
            providers.get(name).await.ok()?.status?.last_probe_at?;
            providers.get(name).await.ok()?.status
        })
        .await;
        assert!(!format!("{status:?}").contains(VICTIM_VALUE), "{status:?}");
    }
    assert_eq!(
        fake.requests(),
        0,
        "the Secret's value must reach no endpoint"
    );

    // Events name the stable reason.
    let events: Api<Event> = Api::namespaced(h.client.clone(), &h.ns);
    wait_for("a SecretNotOwned Event", async || {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("SecretNotOwned")
                    && e.involved_object.name.as_deref() == Some("borrower")
            })
            .then_some(())
    })
    .await;
    running.stop().await;

    // Neither Secret was taken over or changed, and nothing went into the vault.
    let after = secrets.get("team-db").await.expect("get");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert!(after.metadata.owner_references.is_none());
    for name in ["borrower", "importer"] {
        assert!(
            h.vault.get(&h.ns, name).await.expect("vault").is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_deleted_provider_leaves_the_routing_table() {
    let h = Harness::new().await;
    let fake = javari_testenv::FakeProvider::start("")
        .await
        .expect("fake provider");
    let providers: Api<Provider> = Api::namespaced(h.client.clone(), &h.ns);
    let p = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Provider", "metadata": {"name": "local"},
        "spec": {"api": "openai-compatible", "endpoint": format!("{}/openai/v1", fake.url()),
                 "probe": {"interval": "1s", "timeout": "900ms"},
                 "models": [{"name": "llama3", "inputCostPer1k": 0, "outputCostPer1k": 0}]}}))
    .expect("provider");
    providers
        .create(&PostParams::default(), &p)
        .await
        .expect("create provider");
    let running = h.start(|c| c).await;
    let rows = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM javari_providers WHERE namespace = $1")
            .bind(&h.ns)
            .fetch_one(h.pool())
            .await
            .expect("count")
    };
    wait_for("the provider row", async || {
        (rows().await == 1).then_some(())
    })
    .await;

    providers
        .delete("local", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the Provider gone", async || {
        providers
            .get_opt("local")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(rows().await, 0, "a deleted Provider must not stay routable");
    let models: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_provider_models")
        .fetch_one(h.pool())
        .await
        .expect("count");
    assert_eq!(models, 0);
    running.stop().await;
}
