//! The incidents and runbooks API without a cluster: declared incidents notify a webhook on
//! declared, acknowledged, severity changed and resolved (retried, the result on the
//! timeline); a `sql` step that writes is refused by PostgreSQL and loses nothing; a failed
//! step is retried and the run resumes there; viewers read but neither run nor approve; CSRF
//! and bad input are refused.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use javari_core::incidents::Webhook;
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{Harness, test_settings};

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

async fn post_json(h: &Harness, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(h, token, reqwest::Method::POST, path, Some(body)).await
}

/// A webhook receiver that answers 503 to every other call, and a target that answers 200
/// only when `up` is set.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    up: Arc<AtomicUsize>,
}

async fn receiver() -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let up = Arc::new(AtomicUsize::new(0));
    let (b, c, u) = (bodies.clone(), calls.clone(), up.clone());
    let app = Router::new()
        .route(
            "/hook/T000/secret-path",
            post(move |axum::Json(body): axum::Json<Value>| {
                let (b, c) = (b.clone(), c.clone());
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    b.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/target",
            get(move || {
                let u = u.clone();
                async move {
                    if u.load(Ordering::SeqCst) > 0 {
                        StatusCode::OK
                    } else {
                        StatusCode::BAD_GATEWAY
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Receiver { url, bodies, up }
}

const PROBE: &str = r#"---
id: probe
title: Probe a target
severities: [P2]
parameters:
  target: {description: "The URL to probe"}
---

# Probe a target

## 1. Count incidents

```javari
kind: sql
query: SELECT count(*) AS incidents FROM javari_incidents
```

## 2. Probe

```javari
kind: http
url: "{{ target }}"
```

## 3. Approve

```javari
kind: approval
```
"#;

/// Starts with a word the loader accepts; PostgreSQL's READ ONLY transaction refuses it.
const SNEAKY: &str = r#"---
id: sneaky
title: A write in disguise
severities: [P3]
---

# A write in disguise

## 1. Delete

```javari
kind: sql
query: EXPLAIN ANALYZE DELETE FROM javari_incidents
```
"#;

async fn harness(pool: PgPool, hook: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!("javari-runbooks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("probe.md"), PROBE).expect("write");
    std::fs::write(dir.join("sneaky.md"), SNEAKY).expect("write");
    let mut settings = test_settings();
    settings.incidents.runbooks_dir = Some(dir);
    settings.incidents.webhook = Some(Webhook {
        attempts: 3,
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..Webhook::new(hook)
    });
    Harness::with_settings(pool, settings).await
}

async fn webhook_events(h: &Harness, id: &str) -> Vec<String> {
    let (_, d) = call(
        h,
        &h.viewer_token,
        reqwest::Method::GET,
        &format!("/api/javari/incidents/{id}"),
        None,
    )
    .await;
    d["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|e| e["kind"] == "webhook")
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn declared_incidents_notify_with_retries_and_the_result_on_the_timeline(pool: PgPool) {
    let r = receiver().await;
    let hook = format!("{}/hook/T000/secret-path", r.url);
    let h = harness(pool, &hook).await;

    let (status, d) = post_json(
        &h,
        &h.viewer_token,
        "/api/javari/incidents",
        json!({"title": "x", "severity": "P1"}),
    )
    .await;
    assert_eq!(status, 403, "a viewer cannot declare: {d}");
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/incidents",
        json!({"title": "x", "severity": "P7"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        d["error"]
            .as_str()
            .unwrap_or_default()
            .contains("P0, P1, P2, P3"),
        "{d}"
    );

    let (status, d) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/incidents",
        json!({"title": "Checkout is slow", "severity": "P2",
               "source": {"kind": "project", "namespace": "prod", "name": "shop"}}),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["incident"]["declaredBy"], "operator@example.test");
    let left = d["incident"]["respondInSeconds"]
        .as_i64()
        .expect("countdown");
    assert!(
        left > 3 * 3600 && left <= 4 * 3600,
        "P2: four hours, {left}"
    );
    let id = d["incident"]["id"].as_str().expect("id").to_owned();

    let delivered = async |n: usize| {
        wait_for(&format!("{n} webhook results"), async || {
            let e = webhook_events(&h, &id).await;
            (e.len() >= n).then_some(e)
        })
        .await
    };
    let e = delivered(1).await;
    assert_eq!(
        e[0],
        "webhook for declared: delivered, answered 200 (attempt 2 of 3)"
    );

    let (status, _) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "acknowledged once: {d}");
    delivered(2).await;
    let (status, d) = call(
        &h,
        &h.operator_token,
        reqwest::Method::PATCH,
        &format!("/api/javari/incidents/{id}"),
        Some(json!({"severity": "P0", "commander": "bob"})),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (
            d["incident"]["severity"].as_str(),
            d["incident"]["commander"].as_str()
        ),
        (Some("P0"), Some("bob"))
    );
    delivered(3).await;
    let (status, _) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/notes"),
        json!({"text": "pool exhausted", "public": false}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/resolve"),
        json!({"message": "pool raised"}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let e = delivered(4).await;
    assert_eq!(
        e,
        [
            "webhook for declared: delivered, answered 200 (attempt 2 of 3)",
            "webhook for acknowledged: delivered, answered 200 (attempt 2 of 3)",
            "webhook for severity_changed: delivered, answered 200 (attempt 2 of 3)",
            "webhook for resolved: delivered, answered 200 (attempt 2 of 3)",
        ]
    );
    let bodies = r.bodies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        events,
        ["declared", "acknowledged", "severity_changed", "resolved"]
    );
    assert_eq!(bodies[2]["text"], "[P0] Checkout is slow is now P0");
    let (_, d) = call(
        &h,
        &h.viewer_token,
        reqwest::Method::GET,
        &format!("/api/javari/incidents/{id}"),
        None,
    )
    .await;
    assert!(
        !d.to_string().contains("secret-path"),
        "the webhook URL never shows"
    );

    // A resolved incident cannot be resolved again; a duplicate merges into an open one.
    let (status, _) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/incidents/{id}/resolve"),
        json!({"message": "again"}),
    )
    .await;
    assert_eq!(status, 409);
    let (_, a) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/incidents",
        json!({"title": "A", "severity": "P3"}),
    )
    .await;
    let (_, b) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/incidents",
        json!({"title": "B", "severity": "P3"}),
    )
    .await;
    let (a, b) = (a["incident"]["id"].clone(), b["incident"]["id"].clone());
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        &format!(
            "/api/javari/incidents/{}/merge",
            b.as_str().unwrap_or_default()
        ),
        json!({"into": a}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["incident"]["occurrences"], 2);
    let (_, list) = call(
        &h,
        &h.viewer_token,
        reqwest::Method::GET,
        "/api/javari/incidents",
        None,
    )
    .await;
    let open: Vec<&str> = list["incidents"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(open, ["A"], "resolved and merged ones are not open");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn steps_fail_safely_resume_where_they_failed_and_need_an_operator(pool: PgPool) {
    let r = receiver().await;
    let h = harness(pool, &format!("{}/hook/T000/secret-path", r.url)).await;
    let (_, d) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/incidents",
        json!({"title": "probe fails", "severity": "P2"}),
    )
    .await;
    let incident = d["incident"]["id"].as_str().expect("id").to_owned();

    // A write hidden in a CTE: refused by PostgreSQL, nothing deleted, the run stops there.
    let (status, run) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/runbooks/sneaky/runs",
        json!({"namespace": "prod", "incident": incident}),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let sneaky = run["run"]["id"].as_str().expect("run").to_owned();
    let (status, r2) = post_json(
        &h,
        &h.operator_token,
        &format!("/api/javari/runbook-runs/{sneaky}/step"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    assert_eq!(r2["run"]["status"], "failed");
    assert!(
        r2["attempts"][0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("read-only transaction"),
        "{r2}"
    );
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_incidents").await,
        1,
        "nothing deleted"
    );

    // Viewers preview but neither start, step nor approve.
    let body = json!({"namespace": "prod", "incident": incident, "parameters": {"target": format!("{}/target", r.url)}});
    let (status, p) = post_json(
        &h,
        &h.viewer_token,
        "/api/javari/runbooks/probe/preview",
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert!(
        p["plan"][1]["does"]
            .as_str()
            .unwrap_or_default()
            .contains("/target")
    );
    let (status, _) = post_json(
        &h,
        &h.viewer_token,
        "/api/javari/runbooks/probe/runs",
        body.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/runbooks/probe/runs",
        json!({"namespace": "Not valid", "parameters": {"target": "x"}}),
    )
    .await;
    assert_eq!(status, 400, "{d}");
    let (status, d) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/runbooks/probe/runs",
        json!({"namespace": "prod"}),
    )
    .await;
    assert_eq!(status, 400, "a missing parameter: {d}");
    let (status, run) = post_json(
        &h,
        &h.operator_token,
        "/api/javari/runbooks/probe/runs",
        body,
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let id = run["run"]["id"].as_str().expect("run").to_owned();
    let step = async |token: &str| {
        post_json(
            &h,
            token,
            &format!("/api/javari/runbook-runs/{id}/step"),
            json!({}),
        )
        .await
    };
    let (status, _) = step(&h.viewer_token).await;
    assert_eq!(status, 403, "a viewer cannot run a step");

    let (_, s) = step(&h.operator_token).await;
    assert_eq!(s["run"]["currentStep"], 2, "{s}");
    // The target answers 502: the step fails and the run stops at it.
    let (_, s) = step(&h.operator_token).await;
    assert_eq!(
        (
            s["run"]["status"].as_str(),
            s["run"]["currentStep"].as_i64()
        ),
        (Some("failed"), Some(2)),
        "{s}"
    );
    // Fixed; the retry resumes at step 2 (step 1 is not run again).
    r.up.store(1, Ordering::SeqCst);
    let (_, s) = step(&h.admin_token).await;
    assert_eq!(
        (
            s["run"]["status"].as_str(),
            s["run"]["currentStep"].as_i64()
        ),
        (Some("running"), Some(3)),
        "{s}"
    );
    let attempts: Vec<(i64, &str, &str)> = s["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["stepNumber"].as_i64().unwrap_or(0),
                a["status"].as_str().unwrap_or(""),
                a["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, "succeeded", "operator@example.test"),
            (2, "failed", "operator@example.test"),
            (2, "succeeded", "admin@example.test")
        ]
    );
    let (_, s) = step(&h.operator_token).await;
    assert_eq!(s["run"]["status"], "awaiting_approval");
    let approve = async |token: &str| {
        post_json(
            &h,
            token,
            &format!("/api/javari/runbook-runs/{id}/approve"),
            json!({}),
        )
        .await
    };
    assert_eq!(
        approve(&h.viewer_token).await.0,
        403,
        "a viewer cannot approve"
    );
    assert_eq!(
        approve(&h.operator_token).await.0,
        403,
        "the starter cannot approve"
    );
    let (status, s) = approve(&h.admin_token).await;
    assert_eq!(
        (status, s["run"]["status"].as_str()),
        (200, Some("succeeded")),
        "{s}"
    );

    // A cookie session without the CSRF token is refused like everywhere else.
    let http = support::forms::client_from("127.0.0.9");
    let session = support::forms::sign_in(&http, &h, "operator@example.test").await;
    let refused = http
        .post(h.url("/api/javari/incidents"))
        .header("cookie", &session)
        .json(&json!({"title": "no csrf", "severity": "P3"}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
}
