//! The write-only value of an external Credential, on the real apiserver with the operator's
//! controllers running in-process (sharing the console's vault key): an operator sets the
//! value from the Credential's page, the operator materializes version 1 into the Secret;
//! setting it again makes version 2. The value appears in no page, no audit row, no Event;
//! viewers get 403; a Credential with another source is refused.

mod support;

use std::time::Duration;

use javari_crds::Credential;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use support::Harness;
use support::forms::{client_from, page_csrf, sign_in};
use support::operator::{Operator, cluster_and_database};
use support::wait_for;

const FIRST: &str = "sk-live-first-0123456789abcdef";
const SECOND: &str = "sk-live-second-fedcba9876543210";

#[tokio::test]
async fn an_external_credential_value_is_set_write_only_and_its_version_goes_up() {
    let (client, ns, pool) = cluster_and_database().await;
    let kube = client.clone();
    let h = Harness::start_with(pool.clone(), support::test_settings(), move |s| {
        s.with_kube(kube)
    })
    .await;

    // The operator, with the same vault (key and database) as the console.
    let operator = Operator::start(&client, h.vault.clone(), &ns).await;

    let credentials: Api<Credential> = Api::namespaced(client.clone(), &ns);
    for body in [
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
               "metadata": {"name": "stripe-key"},
               "spec": {"service": "stripe", "secretName": "stripe-key",
                        "source": {"external": {"owner": "payments"}}}}),
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
               "metadata": {"name": "db-password"},
               "spec": {"service": "postgres", "source": {"generate": {"length": 24}}}}),
    ] {
        let c: Credential = serde_json::from_value(body).expect("credential");
        credentials
            .create(&PostParams::default(), &c)
            .await
            .expect("create");
    }
    wait_for(
        "the operator waits for the value",
        Duration::from_secs(30),
        async || {
            let c = credentials.get("stripe-key").await.ok()?;
            let waiting = c
                .status?
                .conditions
                .iter()
                .any(|k| k.message.contains("payments"));
            waiting.then_some(())
        },
    )
    .await;

    // A viewer sees no form and is refused.
    let viewer_http = client_from("127.0.0.81");
    let viewer = sign_in(&viewer_http, &h, &h.viewer.email).await;
    let page = viewer_http
        .get(h.url(&format!("/credentials/{ns}/stripe-key")))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("id=\"set-value\""));
    let csrf = page_csrf(&viewer_http, &h, &viewer, "/chat").await;
    let refused = viewer_http
        .post(h.url(&format!("/credentials/{ns}/stripe-key/value")))
        .header("cookie", &viewer)
        .form(&[("csrf_token", csrf.as_str()), ("value", FIRST)])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    assert!(
        h.vault
            .get(&ns, "stripe-key")
            .await
            .expect("vault")
            .is_none()
    );

    // An operator sets it from the page.
    let http = client_from("127.0.0.82");
    let session = sign_in(&http, &h, &h.operator.email).await;
    let path = format!("/credentials/{ns}/stripe-key");
    let page = http
        .get(h.url(&path))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("id=\"set-value\""),
        "the form for an external source"
    );
    let csrf = page_csrf(&http, &h, &session, &path).await;
    let set = http
        .post(h.url(&format!("{path}/value")))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str()), ("value", FIRST)])
        .send()
        .await
        .expect("post");
    assert_eq!(set.status().as_u16(), 303);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let materialized = async |expected: &str, version: i64| {
        wait_for(
            "the operator writes the version",
            Duration::from_secs(30),
            async || {
                let c = credentials.get("stripe-key").await.ok()?;
                let s = secrets.get_opt("stripe-key").await.ok()??;
                let value = s.data?.remove("value")?;
                (c.status?.version == Some(version) && value.0 == expected.as_bytes()).then_some(())
            },
        )
        .await
    };
    materialized(FIRST, 1).await;

    // Again through the API: version 2.
    let response = h
        .http
        .post(h.url(&format!("/api/platform/credentials/{ns}/stripe-key/value")))
        .bearer_auth(&h.operator_token)
        .json(&json!({ "value": SECOND }))
        .send()
        .await
        .expect("api");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["version"], 2);
    assert!(!body.to_string().contains(SECOND));
    materialized(SECOND, 2).await;

    // Refused: another source, an empty or oversized value, no CSRF.
    for (name, value, status) in [
        ("db-password", "x".repeat(10), 409),
        ("stripe-key", String::new(), 400),
        ("stripe-key", "x".repeat(9000), 400),
        ("missing", "x".repeat(10), 404),
    ] {
        let r = h
            .http
            .post(h.url(&format!("/api/platform/credentials/{ns}/{name}/value")))
            .bearer_auth(&h.operator_token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .expect("api");
        assert_eq!(r.status().as_u16(), status, "{name} {}", value.len());
    }
    let no_csrf = http
        .post(h.url(&format!("{path}/value")))
        .header("cookie", &session)
        .form(&[("value", FIRST)])
        .send()
        .await
        .expect("post");
    assert_eq!(no_csrf.status().as_u16(), 403);
    assert_eq!(
        h.vault
            .get(&ns, "stripe-key")
            .await
            .expect("vault")
            .expect("stored")
            .version,
        2
    );

    // The value is nowhere to be read: pages, audit rows, Events.
    let admin_http = client_from("127.0.0.83");
    let admin = sign_in(&admin_http, &h, &h.admin.email).await;
    for page_path in [
        path.clone(),
        "/audit".to_owned(),
        "/credentials".to_owned(),
        "/".to_owned(),
    ] {
        let html = admin_http
            .get(h.url(&page_path))
            .header("cookie", &admin)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        for secret in [FIRST, SECOND] {
            assert!(!html.contains(secret), "{page_path} shows the value");
        }
    }
    let page = admin_http
        .get(h.url(&path))
        .header("cookie", &admin)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("value set from the console"),
        "the vault trail says who set it"
    );
    let audit: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT actor, action, details FROM javari_audit_log WHERE resource_type = 'Credential' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(audit.len(), 2, "{audit:?}");
    for (actor, action, details) in &audit {
        assert_eq!(actor, &h.operator.email);
        assert_eq!(action, "credential.set-value");
        for secret in [FIRST, SECOND] {
            assert!(!details.to_string().contains(secret));
        }
    }
    assert_eq!(audit[1].2["version"], 2);
    let all_text: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(t::text, ' '), '') FROM (SELECT * FROM javari_credential_audit_log) t",
    )
    .fetch_one(&pool)
    .await
    .expect("vault audit");
    for secret in [FIRST, SECOND] {
        assert!(
            !all_text.contains(secret),
            "the vault's audit holds no value"
        );
    }
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let list = events
        .list(&ListParams::default().fields("involvedObject.name=stripe-key"))
        .await
        .expect("events");
    assert!(
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("ValueSet"))
    );
    for e in &list.items {
        let message = e.message.clone().unwrap_or_default();
        for secret in [FIRST, SECOND] {
            assert!(!message.contains(secret));
        }
    }

    operator.stop().await;
}
