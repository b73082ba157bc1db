//! From the first failed check to the postmortem, on the real apiserver with the operator's
//! controllers running in-process: a fake target fails → the Monitor's incident appears in the
//! console with its runbook suggested → an operator runs it: a `kube` step rolls the Project
//! back, an `approval` step waits for a second operator, a `verify` step passes once the
//! target recovered → resolve → the postmortem's timeline lists every step in order with its
//! actor, and the last change before the incident.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use javari_console::auth::{Role, create_token, create_user};
use javari_core::vault::{Keyring, MasterKey, Vault};
use javari_crds::{Monitor, Project};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::operator::{Operator, cluster_and_database};
use support::{Harness, PASSWORD, test_settings};

/// Polls `check` until it gives a value, failing with `what` after `limit`.
async fn wait_for<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A target answering 200 while `healthy`, else 503.
async fn target(healthy: Arc<AtomicBool>) -> String {
    let app = Router::new().fallback(get(move || {
        let h = healthy.clone();
        async move {
            if h.load(Ordering::SeqCst) {
                (StatusCode::OK, r#"{"status":"healthy"}"#)
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"down"}"#)
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

async fn call(
    h: &Harness,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = h.http.request(method, h.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(h: &Harness, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(h, token, reqwest::Method::POST, path, Some(body)).await
}

async fn get_json(h: &Harness, token: &str, path: &str) -> (u16, Value) {
    call(h, token, reqwest::Method::GET, path, None).await
}

#[tokio::test]
async fn a_failed_check_to_a_postmortem_through_a_runbook() {
    let (client, ns, pool) = cluster_and_database().await;

    // The "cluster": the application fails while registry.local/api:2 runs.
    let healthy = Arc::new(AtomicBool::new(true));
    let target_url = target(healthy.clone()).await;
    let project_url = format!("{target_url}/{{namespace}}/{{name}}{{path}}");

    // The operator's controllers, in-process, watching this namespace.
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let url = project_url.clone();
    let operator = Operator::start_with(&client, vault, &ns, |ctx| ctx.with_project_url(url)).await;

    // The console, with the cluster, the repository's runbooks and the same project URL.
    let mut settings = test_settings();
    settings.incidents.project_url_template = project_url.clone();
    let kube = client.clone();
    let h = Harness::start_with(pool.clone(), settings, move |s| s.with_kube(kube)).await;
    let second = create_user(&pool, "second@example.test", PASSWORD, Role::Operator)
        .await
        .expect("second operator");
    let second_token = create_token(&pool, &second, "tests", Role::Operator)
        .await
        .expect("token")
        .token;

    let projects: Api<Project> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let p = serde_json::from_value(
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
        "metadata": {"name": "api"}, "spec": {"image": "registry.local/api:1"}}),
    )
    .expect("project");
    projects
        .create(&PostParams::default(), &p)
        .await
        .expect("project");
    let image = async || -> Option<String> {
        deployments
            .get_opt("api")
            .await
            .ok()??
            .spec?
            .template
            .spec?
            .containers
            .first()?
            .image
            .clone()
    };
    wait_for("api:1 deployed", Duration::from_secs(60), async || {
        (image().await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    let d = deployments.get("api").await.expect("deployment");
    let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
    deployments
        .patch_status("api", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("rollout status");
    wait_for("api:1 known good", Duration::from_secs(60), async || {
        projects
            .get("api")
            .await
            .ok()?
            .status?
            .last_known_good
            .map(|_| ())
    })
    .await;
    let (h2, d2) = (healthy.clone(), deployments.clone());
    let follower = tokio::spawn(async move {
        loop {
            let running = d2
                .get_opt("api")
                .await
                .ok()
                .flatten()
                .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone());
            h2.store(
                running.as_deref() != Some("registry.local/api:2"),
                Ordering::SeqCst,
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let m = serde_json::from_value(
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
        "metadata": {"name": "api-health"},
        "spec": {"projectRef": {"name": "api"}, "interval": "1s", "request": {"timeout": "900ms"},
                 "failureThreshold": 2, "successThreshold": 100, "severity": "P1",
                 "actions": {"runbook": "api-down"}}}),
    )
    .expect("monitor");
    monitors
        .create(&PostParams::default(), &m)
        .await
        .expect("monitor");
    wait_for("a passing check", Duration::from_secs(60), async || {
        let up: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM javari_health_checks WHERE monitor_name = 'api-health' AND status = 'up'",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (up > 0).then_some(())
    })
    .await;

    // The bad rollout.
    projects
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"image": "registry.local/api:2"}})),
        )
        .await
        .expect("new image");

    // The Monitor's incident appears in the console, with its response countdown.
    let incident = wait_for(
        "the incident in the console",
        Duration::from_secs(60),
        async || {
            let (status, body) = get_json(&h, &h.viewer_token, "/api/javari/incidents").await;
            assert_eq!(status, 200, "{body}");
            body["incidents"]
                .as_array()?
                .iter()
                .find(|i| i["source"]["name"] == "api-health")
                .cloned()
        },
    )
    .await;
    assert_eq!(incident["severity"], "P1");
    assert_eq!(incident["status"], "triage");
    let left = incident["respondInSeconds"].as_i64().expect("countdown");
    assert!(left > 0 && left <= 3600, "P1: within an hour, {left}s left");
    let id = incident["id"].as_str().expect("id").to_owned();

    let (status, detail) =
        get_json(&h, &h.viewer_token, &format!("/api/javari/incidents/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    let suggestion = &detail["suggestedRunbooks"][0];
    assert_eq!(suggestion["id"], "api-down", "{detail}");
    assert_eq!(suggestion["parameters"]["monitor"], "api-health");
    assert_eq!(suggestion["parameters"]["project"], "api");
    assert_eq!(suggestion["namespace"], ns.as_str());
    let last_change = detail["lastChange"]["message"].as_str().unwrap_or_default();
    assert!(
        last_change.contains("rolled out registry.local/api:2"),
        "last change: {detail}"
    );

    let (status, _) = post(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);

    // A viewer may read but not run.
    let run_body = json!({"incident": id, "parameters": suggestion["parameters"].clone()});
    let (status, _) = post(
        &h,
        &h.viewer_token,
        "/api/javari/runbooks/api-down/runs",
        run_body.clone(),
    )
    .await;
    assert_eq!(status, 403, "a viewer cannot start a run");
    // The dry run names what would change, running nothing.
    let (status, preview) = post(
        &h,
        &h.viewer_token,
        "/api/javari/runbooks/api-down/preview",
        run_body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["plan"][3]["needsConfirmation"], true);
    assert!(
        preview["plan"][3]["does"]
            .as_str()
            .unwrap_or_default()
            .contains("\"api\"")
    );

    let (status, run) = post(
        &h,
        &h.operator_token,
        "/api/javari/runbooks/api-down/runs",
        run_body,
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["run"]["id"].as_str().expect("run id").to_owned();
    let step = async |token: &str, confirm: bool| {
        post(
            &h,
            token,
            &format!("/api/javari/runbook-runs/{run_id}/step"),
            json!({"confirm": confirm}),
        )
        .await
    };
    let approve = async |token: &str| {
        post(
            &h,
            token,
            &format!("/api/javari/runbook-runs/{run_id}/approve"),
            json!({}),
        )
        .await
    };

    // 1. verify: still down, and the step says `on_failure: continue`.
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            r["run"]["status"].as_str(),
            r["run"]["currentStep"].as_i64()
        ),
        (Some("running"), Some(2))
    );
    assert_eq!(r["attempts"][0]["status"], "failed");
    // 2. sql: what changed lately.
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["attempts"][1]["status"], "succeeded", "{r}");
    // 3. approval: the run waits; its starter and a viewer cannot approve.
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(
        (status, r["run"]["status"].as_str()),
        (200, Some("awaiting_approval"))
    );
    let (status, r) = step(&h.operator_token, true).await;
    assert_eq!(status, 409, "the run waits for the approval: {r}");
    let (status, r) = approve(&h.operator_token).await;
    assert_eq!(status, 403, "no self-approval: {r}");
    let (status, _) = approve(&h.viewer_token).await;
    assert_eq!(status, 403, "a viewer cannot approve");
    assert_eq!(
        image().await.as_deref(),
        Some("registry.local/api:2"),
        "nothing rolled back yet"
    );
    let (status, r) = approve(&second_token).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            r["run"]["status"].as_str(),
            r["run"]["currentStep"].as_i64()
        ),
        (Some("running"), Some(4))
    );
    // 4. kube: refused without confirmation, then the Project rolls back for real.
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(status, 409, "{r}");
    assert!(
        r["error"].as_str().unwrap_or_default().contains("confirm"),
        "{r}"
    );
    let (status, r) = step(&h.operator_token, true).await;
    assert_eq!(status, 200, "{r}");
    let output = r["attempts"]
        .as_array()
        .and_then(|a| a.last())
        .map(|a| a["output"].clone());
    assert_eq!(
        output,
        Some(json!(
            "Project api rolled back from registry.local/api:2 to registry.local/api:1"
        )),
        "{r}"
    );
    wait_for("api:1 running again", Duration::from_secs(60), async || {
        (image().await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    // 5. verify: the target recovered.
    wait_for("the target recovers", Duration::from_secs(30), async || {
        healthy.load(Ordering::SeqCst).then_some(())
    })
    .await;
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["run"]["currentStep"].as_i64(), Some(6), "{r}");
    // 6. manual: ticked off; the run is done.
    let (status, r) = step(&h.operator_token, false).await;
    assert_eq!(
        (status, r["run"]["status"].as_str()),
        (200, Some("succeeded")),
        "{r}"
    );

    let (status, r) = post(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/resolve"),
        json!({"message": "rolled back to api:1; checks pass"}),
    )
    .await;
    assert_eq!(
        (status, r["incident"]["status"].as_str()),
        (200, Some("resolved")),
        "{r}"
    );

    // The postmortem: every step in order, with its actor, and the last change before.
    let (status, pm) = get_json(
        &h,
        &h.viewer_token,
        &format!("/api/javari/incidents/{id}/postmortem"),
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    let md = pm["markdown"].as_str().expect("markdown");
    assert!(
        md.contains("Last change before it started: Project api rolled out registry.local/api:2"),
        "{md}"
    );
    let rows: Vec<&str> = md.lines().filter(|l| l.contains("runbook")).collect();
    let expected = [
        (
            "runbook_started",
            "operator@example.test",
            "runbook api-down started",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 1 Verify the outage: failed",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 2 Check what changed: succeeded",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 3 Approve the rollback: waiting for approval",
        ),
        (
            "runbook_step",
            "second@example.test",
            "api-down step 3 Approve the rollback: approved by second@example.test",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 4 Roll back to the last known good image: succeeded",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 5 Verify the service is back: succeeded",
        ),
        (
            "runbook_step",
            "operator@example.test",
            "api-down step 6 Check the dependencies if it is still down: succeeded",
        ),
    ];
    assert_eq!(rows.len(), expected.len(), "{md}");
    for (row, (kind, actor, message)) in rows.iter().zip(expected) {
        assert!(
            row.contains(&format!("| {kind} | {actor} | {message}")),
            "{row:?} should be {kind} by {actor}: {message}\n{md}"
        );
    }
    let order = |needle: &str| {
        md.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {md}"))
    };
    assert!(order("| opened |") < order("| acknowledged |"));
    assert!(order("| acknowledged |") < order("| runbook_started |"));
    let resolved_row =
        md.rfind("| status_changed | operator@example.test | rolled back to api:1; checks pass");
    assert!(Some(order("api-down step 6")) < resolved_row, "{md}");

    let (status, export) = call(
        &h,
        &h.viewer_token,
        reqwest::Method::GET,
        &format!("/incidents/{id}/postmortem.md"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(export.as_str(), Some(md), "the export is the postmortem");

    follower.abort();
    operator.stop().await;
}
