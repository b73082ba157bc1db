//! Resource pages and actions on a real kube-apiserver and PostgreSQL: lists with namespace
//! and state filters, detail pages with Events, and the actions the operator honours —
//! each refused to viewers (403, no buttons), CSRF-checked with a session, recorded in the
//! audit log and on the resource (annotation and Event naming who asked).

mod support;

use std::time::Duration;

use javari_crds::{Credential, Monitor, Project, Provider};
use javari_testenv::ControlPlane;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;
use sqlx::PgPool;
use support::Harness;
use support::cluster::{cluster, fixtures, settings};
use support::forms::{client_from, page_csrf, sign_in};

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

/// A long list is whole (more than the 500 the pages used to cut at) and paged in the page:
/// rows 1–100 of 620, the next page link keeps the filters, a page past the end shows the last.
/// The rows come from the watched store; a Monitor changed after the watch is current shows
/// up on the list once the watch delivers it.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn long_lists_are_whole_and_paged(pool: PgPool) {
    use futures::StreamExt;
    let (client, ns) = cluster().await;
    let total = 620;
    futures::stream::iter(0..total)
        .map(|i| {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                support::cluster::create::<Monitor>(
                    &client,
                    &ns,
                    serde_json::json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
                           "metadata": {"name": format!("m-{i:04}"), "namespace": ns},
                           "spec": {"url": "http://127.0.0.1:9/", "interval": "30s"}}),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<Monitor>>()
        .await;
    let h = Harness::with_kube(pool, settings(), Some(client.clone())).await;

    let (status, first) = page(&h, &h.viewer_token, &format!("/monitors?namespace={ns}")).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("1–100 of 620 (page 1 of 7)"), "{first}");
    assert!(first.contains(&format!("{ns}/m-0000<")) && first.contains(&format!("{ns}/m-0099<")));
    assert!(
        !first.contains(&format!("{ns}/m-0100<")),
        "one page of 100 rows"
    );
    assert!(
        first.contains(&format!("href=\"/monitors?namespace={ns}&#38;page=2\"")),
        "the next link keeps the namespace filter: {first}"
    );
    let (_, last) = page(
        &h,
        &h.viewer_token,
        &format!("/monitors?namespace={ns}&page=7"),
    )
    .await;
    assert!(last.contains("601–620 of 620 (page 7 of 7)"), "{last}");
    assert!(last.contains(&format!("{ns}/m-0619<")) && !last.contains("rel=\"next\""));
    let (_, past) = page(
        &h,
        &h.viewer_token,
        &format!("/monitors?namespace={ns}&page=99"),
    )
    .await;
    assert!(past.contains("601–620 of 620 (page 7 of 7)"), "{past}");
    let (status, bad) = page(
        &h,
        &h.viewer_token,
        &format!("/monitors?namespace={ns}&page=-1"),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    // A change reaches the list through the watch: one Monitor goes Down.
    support::cluster::set_status::<Monitor>(
        &client,
        &ns,
        "m-0307",
        serde_json::json!({"state": "Down", "consecutiveFailures": 3}),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, down) = page(
            &h,
            &h.viewer_token,
            &format!("/monitors?namespace={ns}&state=major_outage"),
        )
        .await;
        if down.contains("1–1 of 1 (page 1 of 1)") {
            assert!(down.contains(&format!("{ns}/m-0307<")), "{down}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the Down Monitor never reached the list: {down}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, detail) = page(&h, &h.viewer_token, &format!("/monitors/{ns}/m-0307")).await;
    assert_eq!(status, 200, "{detail}");
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

/// `web-health` (public): 10 checks in the last hour, 2 failed; `internal-db` (not public):
/// 5 passing checks.
async fn checks(pool: &PgPool, ns: &str) -> Vec<javari_core::monitors::CheckRow> {
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for i in 0..10 {
        rows.push(javari_core::monitors::CheckRow {
            namespace: ns.to_owned(),
            monitor: "web-health".to_owned(),
            target: "http://web/api/health".to_owned(),
            passed: i % 5 != 0,
            response_time_ms: Some(100 + 40 * i),
            status_code: Some(if i % 5 != 0 { 200 } else { 503 }),
            error: (i % 5 == 0).then(|| "[STATUS] == 200".to_owned()),
            checked_at: now - chrono::TimeDelta::minutes(i64::from(5 * i + 1)),
        });
    }
    for i in 0..5 {
        rows.push(javari_core::monitors::CheckRow {
            namespace: ns.to_owned(),
            monitor: "internal-db".to_owned(),
            target: "http://127.0.0.1:9/db".to_owned(),
            passed: true,
            response_time_ms: Some(7),
            status_code: Some(200),
            error: None,
            checked_at: now - chrono::TimeDelta::minutes(i64::from(7 * i + 2)),
        });
    }
    javari_core::monitors::insert_checks(pool, &rows)
        .await
        .expect("checks");
    rows
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_status_page_and_badges_show_only_public_components(pool: PgPool) {
    let (client, ns) = cluster().await;
    fixtures(&client, &ns).await;
    let rows = checks(&pool, &ns).await;
    let h = Harness::with_kube(pool, settings(), Some(client)).await;
    let anonymous = reqwest::Client::new();
    let get = |path: String| {
        let anonymous = anonymous.clone();
        let url = h.url(&path);
        async move {
            let r = anonymous.get(url).send().await.expect("get");
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, kind, r.text().await.expect("body"))
        }
    };

    let (status, _, html) = get("/status".to_owned()).await;
    assert_eq!(status, 200, "no sign-in needed");
    assert!(
        html.contains("Public web") && html.contains("Major outage"),
        "{html}"
    );
    assert!(
        !html.contains("internal-db"),
        "a Monitor not marked public is not shown"
    );

    let (status, _, body) = get("/api/status".to_owned()).await;
    assert_eq!(status, 200);
    let summary: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(summary["page"]["indicator"], "critical");
    let components = summary["components"].as_array().expect("components");
    assert!(!body.contains("internal-db"));
    let web = components
        .iter()
        .find(|c| c["id"] == format!("{ns}/web-health"))
        .expect("the public Monitor");
    assert_eq!(web["name"], "Public web");
    assert_eq!(web["status"], "major_outage");
    assert_eq!(web["uptime"]["24h"], 80.0, "8 of 10 checks passed");
    assert_eq!(web["uptime"]["1h"], 80.0);
    // Response times 100, 140, …, 460 ms: nearest-rank p95 is 460 ms, in the [400, 500) bucket.
    let times: Vec<i32> = rows
        .iter()
        .filter(|r| r.monitor == "web-health")
        .filter_map(|r| r.response_time_ms)
        .collect();
    assert_eq!(times.iter().max(), Some(&460));
    assert_eq!(web["responseTimeMs"]["p95"], 500);
    assert_eq!(
        web["responseTimeMs"]["p50"], 300,
        "rank 5 is 260 ms, in [250, 300)"
    );

    let badge = format!("/badges/{ns}/web-health");
    let (status, kind, svg) = get(format!("{badge}/status.svg")).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/svg+xml; charset=utf-8")
    );
    assert!(
        svg.contains("<title>Public web: major outage</title>"),
        "{svg}"
    );
    let (_, _, svg) = get(format!("{badge}/uptime-24h.svg")).await;
    assert!(svg.contains("uptime 24h: 80.00%"), "{svg}");
    let (_, _, svg) = get(format!("{badge}/response-time.svg")).await;
    assert!(svg.contains("p95 ≤ 500 ms"), "{svg}");
    let (status, _, _) = get(format!("/badges/{ns}/internal-db/status.svg")).await;
    assert_eq!(status, 404, "no badge for a component that is not public");
    let (status, _, _) = get(format!("/api/badges/{ns}/internal-db/shields")).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(format!("{badge}/uptime-2y.svg")).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(format!(
        "/api/badges/{ns}/web-health/shields?badge=uptime-24h"
    ))
    .await;
    assert_eq!(status, 200);
    let shields: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(shields["schemaVersion"], 1);
    assert_eq!(shields["message"], "80.00%");
    assert_eq!(shields["label"], "uptime 24h");
    let (status, _, _) = get(format!(
        "/api/badges/{ns}/web-health/shields?badge=nonsense"
    ))
    .await;
    assert_eq!(status, 400);

    // The metrics summary is not public.
    let (status, _, _) = get("/api/metrics".to_owned()).await;
    assert_eq!(status, 401);
    let metrics: Value = h
        .http
        .get(h.url("/api/metrics"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("metrics")
        .json()
        .await
        .expect("json");
    assert_eq!(metrics["checks"]["requests"], 15);
    assert_eq!(metrics["checks"]["errors"], 2);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_overview_shows_the_platform_at_a_glance(pool: PgPool) {
    let (client, ns) = cluster().await;
    fixtures(&client, &ns).await;
    checks(&pool, &ns).await;
    let incident: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO javari_incidents (dedup_key, title, severity, source_kind, source_namespace, source_name) \
         VALUES ($1, 'web is down', 'P1', 'monitor', $2, 'web-health') RETURNING id",
    )
    .bind(format!("monitor/{ns}/web-health"))
    .bind(&ns)
    .fetch_one(&pool)
    .await
    .expect("incident");
    sqlx::query(
        "INSERT INTO javari_cost_tracking (provider, model, input_tokens, output_tokens, cost_usd) \
         VALUES ('openai', 'gpt-3.5-turbo', 1000, 500, 0.0100), ('openai', 'gpt-3.5-turbo', 100, 50, 0.0023)",
    )
    .execute(&pool)
    .await
    .expect("costs");
    let h = Harness::with_kube(pool.clone(), settings(), Some(client)).await;
    sqlx::query(
        "UPDATE javari_providers SET health = 'Down', latency_ms = 2400 WHERE name = 'anthropic'",
    )
    .execute(&pool)
    .await
    .expect("provider");

    let (status, html) = page(&h, &h.viewer_token, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Major System Outage"));
    assert!(
        html.contains(&format!("href=\"/incidents/{incident}\"")),
        "the open incident links to its page"
    );
    assert!(html.contains("<strong>1</strong> P1"));
    assert!(html.contains(&format!("{ns}/web-health")) && html.contains("Down · 3 failure(s)"));
    assert!(
        !html.contains(&format!(
            "<a href=\"/monitors/{ns}/internal-db\">{ns}/internal-db</a> <span class=\"meta\">"
        )),
        "an Up Monitor is not in the down-or-degraded tile"
    );
    assert!(
        html.contains("$0.0123") && html.contains("(2 answers)"),
        "today's cost of openai"
    );
    assert!(html.contains("2400 ms"));
    assert!(
        html.contains(&format!("{ns}/db-password")),
        "rotates within 14 days"
    );
    assert!(
        !html.contains(&format!("{ns}/far-key</a>")),
        "rotates in 60 days: not listed"
    );
    assert!(html.contains("<title>Uptime of all Monitors per hour, last 24 hours</title>"));
    assert!(html.contains("/static/live.js"));

    // Live tiles: the same fragment as Server-Sent Events.
    let mut live = h
        .http
        .get(h.url("/overview/live"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("live");
    assert_eq!(live.status().as_u16(), 200);
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(text.contains("event: tiles") && text.contains(&format!("{ns}/web-health"))) {
        assert!(
            std::time::Instant::now() < deadline,
            "no tiles event: {text}"
        );
        match tokio::time::timeout(Duration::from_secs(10), live.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("stream ended: {other:?} {text}"),
        }
    }
}

fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (build the tools with `make bins`)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The chart's RBAC is enough for every page and action: the console runs here under its
/// ServiceAccount's token (operator/tests/rbac.rs checks it grants no more).
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn pages_and_actions_work_under_the_chart_service_account(pool: PgPool) {
    let (admin, ns) = cluster().await;
    fixtures(&admin, &ns).await;
    let cp = ControlPlane::shared();
    let release_ns = cp.test_namespace(&admin).await.expect("namespace");
    let release = format!("c{}", &release_ns[2..]);
    let rendered = run(cp
        .helm()
        .args(["template", &release, "--kube-version", "1.34.0"])
        .arg(javari_testenv::workspace_root().join("charts/javari"))
        .args([
            "--namespace",
            &release_ns,
            "--show-only",
            "templates/rbac.yaml",
        ])
        .args([
            "--set",
            "database.existingSecret=db",
            "--set",
            "operator.masterKeySecret=mk",
        ]));
    let manifest = cp.dir().join(format!("console-rbac-{release_ns}.yaml"));
    std::fs::write(&manifest, rendered).expect("manifest");
    run(cp.kubectl().arg("apply").arg("-f").arg(&manifest));
    let token = run(cp.kubectl().args([
        "create",
        "token",
        &format!("{release}-console"),
        "-n",
        &release_ns,
        "--duration",
        "1h",
    ]));
    let kubeconfig = cp
        .kubeconfig_for_token(&format!("console-{release_ns}"), token.trim())
        .expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    let as_console = Client::try_from(config).expect("client");
    let h = Harness::with_kube(pool, settings(), Some(as_console)).await;

    for path in [
        "/".to_owned(),
        "/status".to_owned(),
        format!("/projects/{ns}/web"),
        format!("/monitors/{ns}/web-health"),
        format!("/providers/{ns}/local-llm"),
        format!("/credentials/{ns}/db-password"),
        "/credentials".to_owned(),
    ] {
        let (status, body) = page(&h, &h.viewer_token, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    for path in [
        format!("/api/platform/projects/{ns}/web/rollback"),
        format!("/api/platform/credentials/{ns}/db-password/rotate"),
        format!("/api/platform/monitors/{ns}/internal-db/suspend"),
        format!("/api/platform/providers/{ns}/local-llm/disable"),
    ] {
        let (status, body) = api_action(&h, &h.operator_token, &path).await;
        assert_eq!(status, 202, "{path}: {body}");
    }
    let events = Api::<Event>::namespaced(admin.clone(), &ns)
        .list(
            &ListParams::default()
                .fields("involvedObject.kind=Credential,involvedObject.name=db-password"),
        )
        .await
        .expect("events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RotationRequested")),
        "the console's Event was written under its own account"
    );
}

/// An answer is Markdown rendered by the server and sanitized: a provider's script tag is
/// shown as text, never sent as markup.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn chat_answers_render_markdown_and_never_raw_html(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let conversation: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO javari_conversations (user_id, title) VALUES ($1, 'md') RETURNING id",
    )
    .bind(h.operator.id)
    .fetch_one(&pool)
    .await
    .expect("conversation");
    sqlx::query(
        "INSERT INTO javari_messages (conversation_id, user_id, role, content) VALUES \
         ($1, $2, 'user', 'show me <b>code</b>'), \
         ($1, $2, 'assistant', $3)",
    )
    .bind(conversation)
    .bind(h.operator.id)
    .bind("## Steps\n\n1. **Restart** the pod\n2. Check `kubectl get pods`\n\n| env | ok |\n|---|---|\n| prod | yes |\n\n```sh\nkubectl rollout restart deploy/web\n```\n\n<script>alert('pwned')</script><img src=x onerror=alert(1)>")
    .execute(&pool)
    .await
    .expect("messages");
    let (status, html) = page(&h, &h.operator_token, &format!("/chat?c={conversation}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h2>Steps</h2>"), "{html}");
    assert!(
        html.contains("<strong>Restart</strong>") && html.contains("<code>kubectl get pods</code>")
    );
    assert!(html.contains("<td>prod</td>"));
    assert!(html.contains("<pre><code>kubectl rollout restart deploy/web\n</code></pre>"));
    assert!(
        !html.contains("<script>alert"),
        "no provider script reaches the page"
    );
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&lt;script&gt;alert"), "shown as text");
    assert!(
        html.contains("show me &#60;b&#62;code&#60;/b&#62;"),
        "the user's own text stays text"
    );
}

/// The Provider page's fallbacks and truncations per day are the rows of
/// `javari_provider_days`: two days written directly, today's added to by a batched flush
/// (which skips a Provider that has no row), and a day older than 14 left out.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn provider_fallbacks_and_truncations_per_day_match_the_rows(pool: PgPool) {
    let (client, ns) = cluster().await;
    fixtures(&client, &ns).await;
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO javari_providers (namespace, name, provider_type) \
         VALUES ($1, 'local-llm', 'openai-compatible') RETURNING id",
    )
    .bind(&ns)
    .fetch_one(&pool)
    .await
    .expect("provider row");
    let today = chrono::Utc::now().date_naive();
    for (days_ago, fallbacks, truncations) in [(0, 4, 1), (3, 2, 7), (20, 99, 99)] {
        sqlx::query(
            "INSERT INTO javari_provider_days (provider_id, day, fallbacks, truncations) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(today - chrono::TimeDelta::days(days_ago))
        .bind(fallbacks as i64)
        .bind(truncations as i64)
        .execute(&pool)
        .await
        .expect("day row");
    }
    let tally = javari_core::providers::ProviderDayTally::new();
    let now = chrono::Utc::now();
    tally.fell_back(&ns, "local-llm", now);
    tally.truncated(&ns, "local-llm", now);
    tally.truncated(&ns, "local-llm", now);
    tally.fell_back(&ns, "no-such-provider", now);
    assert_eq!(
        tally.flush(&pool).await.expect("flush"),
        1,
        "one known Provider"
    );
    assert_eq!(tally.pending(), 0);

    let h = Harness::with_kube(pool.clone(), settings(), Some(client)).await;
    let (status, html) = page(&h, &h.viewer_token, &format!("/providers/{ns}/local-llm")).await;
    assert_eq!(status, 200, "{html}");
    let table = &html[html.find("id=\"failure-days\"").expect("table")..];
    let table = &table[..table.find("</table>").expect("end")];
    let cell = |row: &str, class: &str| -> i64 {
        let at = row
            .find(&format!("class=\"{class}\">"))
            .unwrap_or_else(|| panic!("{class} in {row}"));
        let rest = &row[at + class.len() + 9..];
        rest[..rest.find('<').expect("cell end")]
            .parse()
            .expect("a number")
    };
    let shown: Vec<(chrono::NaiveDate, i64, i64)> = table
        .split("<tr data-day=\"")
        .skip(1)
        .map(|row| {
            (
                row[..10].parse().expect("day"),
                cell(row, "fallbacks"),
                cell(row, "truncated"),
            )
        })
        .collect();
    let stored: Vec<(chrono::NaiveDate, i64, i64)> = sqlx::query_as(
        "SELECT day, fallbacks, truncations FROM javari_provider_days \
         WHERE provider_id = $1 AND day >= $2 ORDER BY day DESC",
    )
    .bind(id)
    .bind(today - chrono::TimeDelta::days(14))
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(shown, stored, "{table}");
    assert_eq!(
        stored,
        vec![(today, 5, 3), (today - chrono::TimeDelta::days(3), 2, 7),],
        "the flush added to today's row"
    );
}
