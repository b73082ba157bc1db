//! Resource pages and actions on a real kube-apiserver and PostgreSQL: lists with namespace
//! and state filters, detail pages with Events, and the actions the operator honours —
//! each refused to viewers (403, no buttons), CSRF-checked with a session, recorded in the
//! audit log and on the resource (annotation and Event naming who asked).

mod support;

use std::time::Duration;

use javari_console::Settings;
use javari_crds::{Credential, Monitor, Project, Provider};
use javari_testenv::ControlPlane;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::forms::{client_from, page_csrf, sign_in};
use support::{Harness, test_settings};

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

async fn page(h: &Harness, token: &str, path: &str) -> (u16, String) {
    let r = h
        .http
        .get(h.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("page");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn api_action(h: &Harness, token: &str, path: &str) -> (u16, Value) {
    let r = h
        .http
        .post(h.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("action");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn lists_filter_by_namespace_and_state(pool: PgPool) {
    let (client, ns) = cluster().await;
    fixtures(&client, &ns).await;
    let h = Harness::with_kube(pool, settings(), Some(client)).await;

    let (status, html) = page(&h, &h.viewer_token, &format!("/monitors?namespace={ns}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("{ns}/web-health")) && html.contains(&format!("{ns}/internal-db"))
    );
    let (_, down) = page(
        &h,
        &h.viewer_token,
        &format!("/monitors?namespace={ns}&state=major_outage"),
    )
    .await;
    assert!(down.contains(&format!("{ns}/web-health")), "{down}");
    assert!(
        !down.contains(&format!("{ns}/internal-db")),
        "the Up Monitor is filtered out"
    );

    let (_, projects) = page(&h, &h.viewer_token, &format!("/projects?namespace={ns}")).await;
    assert!(projects.contains("registry.local/web:2") && projects.contains("Partial outage"));
    let (_, other) = page(&h, &h.viewer_token, "/projects?namespace=no-such-namespace").await;
    assert!(!other.contains(&format!("{ns}/web")) && other.contains("Nothing matches"));

    let (_, creds) = page(&h, &h.viewer_token, &format!("/credentials?namespace={ns}")).await;
    assert!(creds.contains(&format!("{ns}/db-password")) && creds.contains("postgres"));
    let (_, detail) = page(
        &h,
        &h.viewer_token,
        &format!("/credentials/{ns}/db-password"),
    )
    .await;
    assert!(detail.contains("class=\"version\">3<"), "{detail}");
    assert!(
        !detail.contains("s3cr3t-db-value-0042"),
        "never a secret value"
    );
    assert!(!creds.contains("s3cr3t-db-value-0042"));

    let (_, providers) = page(&h, &h.viewer_token, "/providers?namespace=default").await;
    assert!(providers.contains("default/openai") && providers.contains("default/anthropic"));
    let (status, missing) = page(&h, &h.viewer_token, &format!("/projects/{ns}/nope")).await;
    assert_eq!(status, 404, "{missing}");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn actions_need_the_operator_role_and_say_who_asked(pool: PgPool) {
    let (client, ns) = cluster().await;
    fixtures(&client, &ns).await;
    let h = Harness::with_kube(pool.clone(), settings(), Some(client.clone())).await;
    let projects: Api<Project> = Api::namespaced(client.clone(), &ns);

    // A viewer sees no buttons and is refused.
    let (_, viewer_page) = page(&h, &h.viewer_token, &format!("/projects/{ns}/web")).await;
    assert!(
        viewer_page.contains("registry.local/web:1"),
        "last known good shown"
    );
    assert!(
        !viewer_page.contains("action-rollback"),
        "no button for a viewer"
    );
    let (status, _) = api_action(
        &h,
        &h.viewer_token,
        &format!("/api/platform/projects/{ns}/web/rollback"),
    )
    .await;
    assert_eq!(status, 403);
    let viewer_http = client_from("127.0.0.1");
    let session = sign_in(&viewer_http, &h, &h.viewer.email).await;
    let csrf = page_csrf(&viewer_http, &h, &session, &format!("/projects/{ns}/web")).await;
    let refused = viewer_http
        .post(h.url(&format!("/projects/{ns}/web/rollback")))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    let untouched = projects.get("web").await.expect("project");
    assert!(
        !untouched
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("javari.ai/rollback")
    );

    // The operator, from the page: a button, CSRF required.
    let operator_http = client_from("127.0.0.1");
    let session = sign_in(&operator_http, &h, &h.operator.email).await;
    let html = operator_http
        .get(h.url(&format!("/projects/{ns}/web")))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("action-rollback"));
    let no_csrf = operator_http
        .post(h.url(&format!("/projects/{ns}/web/rollback")))
        .header("cookie", &session)
        .form(&[("x", "y")])
        .send()
        .await
        .expect("post");
    assert_eq!(no_csrf.status().as_u16(), 403, "no CSRF token, no action");
    let csrf = support::forms::hidden_value(&html, "csrf_token");
    let done = operator_http
        .post(h.url(&format!("/projects/{ns}/web/rollback")))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(done.status().as_u16(), 303);
    let project = projects.get("web").await.expect("project");
    let annotations = project.metadata.annotations.clone().unwrap_or_default();
    let token = annotations
        .get("javari.ai/rollback")
        .expect("rollback annotation");
    assert!(token.starts_with("console-"));
    assert!(
        annotations["javari.ai/requested-by"]
            .starts_with(&format!("{}: rollback", h.operator.email))
    );
    let events = Api::<Event>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().fields("involvedObject.kind=Project,involvedObject.name=web"))
        .await
        .expect("events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RollbackRequested")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains(&h.operator.email))),
        "an Event says who asked: {:?}",
        events.items
    );
    let audit: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, resource_id FROM javari_audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("audit");
    assert_eq!(
        audit,
        vec![(
            h.operator.email.clone(),
            "project.rollback".to_owned(),
            format!("{ns}/web")
        )]
    );
    let after = operator_http
        .get(h.url(&format!("/projects/{ns}/web?notice=rollback")))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(after.contains("RollbackRequested") && after.contains("project.rollback"));

    // The other actions, through the API with the operator's token.
    let (status, body) = api_action(
        &h,
        &h.operator_token,
        &format!("/api/platform/credentials/{ns}/db-password/rotate"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let cred = Api::<Credential>::namespaced(client.clone(), &ns)
        .get("db-password")
        .await
        .expect("credential");
    assert_eq!(
        cred.metadata
            .annotations
            .unwrap_or_default()
            .get("javari.ai/rotate-now"),
        body["token"].as_str().map(str::to_owned).as_ref()
    );
    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let (status, _) = api_action(
        &h,
        &h.operator_token,
        &format!("/api/platform/monitors/{ns}/internal-db/suspend"),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        monitors
            .get("internal-db")
            .await
            .expect("monitor")
            .spec
            .suspend
    );
    let (status, _) = api_action(
        &h,
        &h.admin_token,
        &format!("/api/platform/monitors/{ns}/internal-db/resume"),
    )
    .await;
    assert_eq!(status, 202, "admins may act too");
    assert!(
        !monitors
            .get("internal-db")
            .await
            .expect("monitor")
            .spec
            .suspend
    );
    let providers: Api<Provider> = Api::namespaced(client.clone(), &ns);
    let (status, _) = api_action(
        &h,
        &h.operator_token,
        &format!("/api/platform/providers/{ns}/local-llm/disable"),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        !providers
            .get("local-llm")
            .await
            .expect("provider")
            .spec
            .enabled
    );
    let (_, provider_page) =
        page(&h, &h.operator_token, &format!("/providers/{ns}/local-llm")).await;
    assert!(provider_page.contains(">Enable<"), "the button now enables");
    let (status, _) = api_action(
        &h,
        &h.operator_token,
        &format!("/api/platform/providers/{ns}/nope/disable"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api_action(
        &h,
        &h.operator_token,
        &format!("/api/platform/projects/{ns}/web/explode"),
    )
    .await;
    assert_eq!(status, 404, "unknown actions are refused");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_audit_log")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 5, "one audit row per action that happened");
}
