//! The Monitor controller against local HTTP targets that flip between healthy and failing:
//! thresholds open exactly one incident per outage and resolve it, rows and status agree,
//! a bad condition is reported, and a failing new image is rolled back once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use javari_crds::Monitor;
use javari_crds::monitor::MonitorState;
use javari_testenv::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A target that answers 200 `{"status":"healthy"}` or 503, and a webhook receiver.
struct Target {
    url: String,
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    webhooks: Arc<Mutex<Vec<Value>>>,
}

async fn target() -> Target {
    let healthy = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let webhooks = Arc::new(Mutex::new(Vec::new()));
    let (h, n, w) = (healthy.clone(), hits.clone(), webhooks.clone());
    let app = Router::new()
        .fallback(get(move || {
            let (h, n) = (h.clone(), n.clone());
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                if h.load(Ordering::SeqCst) {
                    (StatusCode::OK, r#"{"status":"healthy"}"#)
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"down"}"#)
                }
            }
        }))
        .route(
            "/hook",
            post(move |axum::Json(body): axum::Json<Value>| {
                let w = w.clone();
                async move {
                    w.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                    StatusCode::NO_CONTENT
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Target {
        url,
        healthy,
        hits,
        webhooks,
    }
}

mod support;

use support::{Harness, Running};

struct Env {
    h: Harness,
    operator: Running,
}

impl std::ops::Deref for Env {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Env {
    async fn start(project_url: Option<String>) -> Env {
        let h = Harness::new().await;
        let operator = h
            .start(|c| match project_url {
                Some(url) => c.with_project_url(url),
                None => c,
            })
            .await;
        Env { h, operator }
    }

    async fn stop(self) {
        self.operator.stop().await;
    }

    fn monitors(&self) -> Api<Monitor> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create_monitor(&self, name: &str, spec: Value) {
        let m: Monitor = serde_json::from_value(
            json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
            "metadata": {"name": name}, "spec": spec}),
        )
        .expect("monitor");
        self.monitors()
            .create(&PostParams::default(), &m)
            .await
            .expect("create monitor");
    }

    async fn wait<T>(&self, what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
        support::wait_for(what, check).await
    }

    async fn state(&self, name: &str) -> Option<MonitorState> {
        Some(self.monitors().get(name).await.ok()?.status?.state)
    }

    /// Stored checks of Monitor `name` with `status` ('up' or 'down').
    async fn checks(&self, name: &str, status: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM javari_health_checks
             WHERE monitor_namespace = $1 AND monitor_name = $2 AND status = $3",
        )
        .bind(&self.ns)
        .bind(name)
        .bind(status)
        .fetch_one(self.pool())
        .await
        .expect("checks")
    }

    async fn incidents(&self, key: &str) -> Vec<(String, i32)> {
        sqlx::query_as("SELECT status, occurrences FROM javari_incidents WHERE dedup_key = $1 ORDER BY opened_at")
            .bind(key)
            .fetch_all(self.pool())
            .await
            .expect("incidents")
    }
}

#[tokio::test]
async fn one_incident_per_outage_with_webhooks_and_agreeing_figures() {
    let t = target().await;
    let env = Env::start(None).await;
    env.create_monitor("web", json!({"url": format!("{}/api/health", t.url), "interval": "1s", "request": {"timeout": "900ms"},
        "conditions": ["[STATUS] == 200", "[BODY].status == healthy", "[RESPONSE_TIME] < 2000"],
        "failureThreshold": 3, "successThreshold": 2, "severity": "P1",
        "actions": {"openIncident": true, "webhook": format!("{}/hook", t.url), "runbook": "api-down"}}))
    .await;
    let key = format!("monitor/{}/web", env.ns);

    env.wait("Up", async || {
        (env.state("web").await == Some(MonitorState::Up)).then_some(())
    })
    .await;
    t.healthy.store(false, Ordering::SeqCst);
    env.wait("Down", async || {
        (env.state("web").await == Some(MonitorState::Down)).then_some(())
    })
    .await;
    // Keep failing well past the threshold (three more failed checks stored): still one
    // incident, opened once.
    env.wait("three failed checks past the threshold", async || {
        (env.checks("web", "down").await >= 6).then_some(())
    })
    .await;
    assert_eq!(env.incidents(&key).await, [("triage".to_owned(), 1)]);
    let status = env
        .monitors()
        .get("web")
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(status.consecutive_failures >= 3);
    assert!(status.open_incident.is_some());
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("[STATUS] == 200 failed")),
        "{:?}",
        status.last_error
    );

    t.healthy.store(true, Ordering::SeqCst);
    env.wait("Up again", async || {
        (env.state("web").await == Some(MonitorState::Up)).then_some(())
    })
    .await;
    assert_eq!(env.incidents(&key).await, [("resolved".to_owned(), 1)]);
    let timeline: Vec<String> = sqlx::query_scalar(
        "SELECT e.kind FROM javari_incident_events e JOIN javari_incidents i ON i.id = e.incident_id WHERE i.dedup_key = $1 ORDER BY e.id",
    )
    .bind(&key)
    .fetch_all(env.pool())
    .await
    .expect("timeline");
    assert_eq!(timeline, ["opened", "webhook", "resolved", "webhook"]);
    let hooks = t.webhooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let states: Vec<&str> = hooks.iter().filter_map(|h| h["state"].as_str()).collect();
    assert_eq!(states, ["down", "resolved"]);
    let runbook: Option<String> =
        sqlx::query_scalar("SELECT runbook FROM javari_incidents WHERE dedup_key = $1")
            .bind(&key)
            .fetch_one(env.pool())
            .await
            .expect("runbook");
    assert_eq!(runbook.as_deref(), Some("api-down"));

    // The status figures are the rows' figures, once status has been refreshed after
    // recovery (a refresh comes every 5 s).
    let recovered_at = serde_json::to_value(
        env.monitors()
            .get("web")
            .await
            .expect("get")
            .status
            .and_then(|s| s.last_check_at),
    )
    .expect("time");
    let status = env
        .wait("status refreshed after recovery", async || {
            let status = env.monitors().get("web").await.ok()?.status?;
            let at = serde_json::to_value(&status.last_check_at).ok()?;
            (at.as_str() > recovered_at.as_str()).then_some(status)
        })
        .await;
    let (checks, down): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'down') FROM javari_health_checks WHERE monitor_namespace = $1 AND monitor_name = 'web'",
    )
    .bind(&env.ns)
    .fetch_one(env.pool())
    .await
    .expect("rows");
    assert!(down >= 3 && checks > down, "{checks} checks, {down} down");
    let shown: f64 = status
        .uptime
        .last1h
        .as_deref()
        .expect("uptime")
        .parse()
        .expect("number");
    let from_rows = 100.0 * (checks - down) as f64 / checks as f64;
    assert!(
        (shown - from_rows).abs() < 100.0 / checks as f64 + 0.01,
        "status {shown} vs rows {from_rows}"
    );
    assert!(status.latency.is_some());
    assert!(t.hits.load(Ordering::SeqCst) as i64 >= checks);
    env.stop().await;
}

#[tokio::test]
async fn a_condition_that_does_not_parse_makes_the_monitor_degraded() {
    let env = Env::start(None).await;
    env.create_monitor(
        "typo",
        json!({"url": "http://127.0.0.1:9/", "conditions": ["[STATUS] == ok"]}),
    )
    .await;
    let condition = env
        .wait("Degraded", async || {
            let s = env.monitors().get("typo").await.ok()?.status?;
            s.conditions
                .into_iter()
                .find(|c| c.type_ == "Degraded" && c.status == "True")
        })
        .await;
    assert_eq!(condition.reason, "ConditionInvalid");
    assert!(
        condition.message.contains("[STATUS] == ok") && condition.message.contains("whole number"),
        "{}",
        condition.message
    );
    env.stop().await;
}

#[tokio::test]
async fn a_failing_new_image_is_rolled_back_once_to_the_last_known_good() {
    let t = target().await;
    let env = Env::start(Some(format!("{}/{{namespace}}/{{name}}{{path}}", t.url))).await;
    let projects: Api<javari_crds::Project> = Api::namespaced(env.client.clone(), &env.ns);
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &env.ns);
    let p = serde_json::from_value(
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project", "metadata": {"name": "api"},
        "spec": {"image": "registry.local/api:1"}}),
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
    let finish_rollout = async || {
        let d = deployments.get("api").await.expect("deployment");
        let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": 1, "availableReplicas": 1}});
        deployments
            .patch_status("api", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("status");
    };
    env.wait("api:1", async || {
        (image().await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    finish_rollout().await;
    env.wait("known good", async || {
        projects
            .get("api")
            .await
            .ok()?
            .status?
            .last_known_good
            .map(|_| ())
    })
    .await;

    // The "cluster": the app fails while api:2 runs.
    let (h, d2) = (t.healthy.clone(), deployments.clone());
    let seen_bad_after_rollback = Arc::new(AtomicBool::new(false));
    let rolled_back = Arc::new(AtomicBool::new(false));
    let (seen, back) = (seen_bad_after_rollback.clone(), rolled_back.clone());
    let follower = tokio::spawn(async move {
        loop {
            let running = d2
                .get_opt("api")
                .await
                .ok()
                .flatten()
                .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone());
            let bad = running.as_deref() == Some("registry.local/api:2");
            if bad && back.load(Ordering::SeqCst) {
                seen.store(true, Ordering::SeqCst);
            }
            h.store(!bad, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    env.create_monitor(
        "api-health",
        json!({"projectRef": {"name": "api"}, "interval": "1s", "request": {"timeout": "900ms"}, "failureThreshold": 2,
        "successThreshold": 1, "severity": "P0", "actions": {"rollback": true}}),
    )
    .await;
    env.wait("Up", async || {
        (env.state("api-health").await == Some(MonitorState::Up)).then_some(())
    })
    .await;

    projects
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"image": "registry.local/api:2"}})),
        )
        .await
        .expect("new image");
    env.wait("api:2 out", async || {
        (image().await.as_deref() == Some("registry.local/api:2")).then_some(())
    })
    .await;
    env.wait("rolled back to api:1", async || {
        (image().await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    rolled_back.store(true, Ordering::SeqCst);
    env.wait("Up after the rollback", async || {
        (env.state("api-health").await == Some(MonitorState::Up)).then_some(())
    })
    .await;
    // Four more passing checks after recovery: time enough for a wrong second rollout to
    // show up.
    let up_now = env.checks("api-health", "up").await;
    env.wait("four more passing checks", async || {
        (env.checks("api-health", "up").await >= up_now + 4).then_some(())
    })
    .await;
    follower.abort();

    assert!(
        !seen_bad_after_rollback.load(Ordering::SeqCst),
        "api:2 was deployed again after the rollback"
    );
    let status = projects
        .get("api")
        .await
        .expect("project")
        .status
        .expect("status");
    assert_eq!(status.rollbacks.len(), 1, "exactly one rollback");
    assert_eq!(status.known_bad_images, ["registry.local/api:2"]);
    assert_eq!(
        status.last_known_good.map(|g| g.image).as_deref(),
        Some("registry.local/api:1")
    );
    let healed: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_auto_healing_incidents")
        .fetch_one(env.pool())
        .await
        .expect("rows");
    assert_eq!(healed, 1);
    let key = format!("monitor/{}/api-health", env.ns);
    assert_eq!(env.incidents(&key).await, [("resolved".to_owned(), 1)]);
    env.stop().await;
}

#[tokio::test]
async fn certificate_expiry_is_read_from_a_real_tls_server() {
    // The test kube-apiserver serves HTTPS with a one-year self-signed certificate.
    let env = Env::start(None).await;
    let livez = format!("{}/livez", ControlPlane::shared().server());
    for (name, condition) in [
        ("cert-ok", "[CERTIFICATE_EXPIRATION] > 240h"),
        ("cert-short", "[CERTIFICATE_EXPIRATION] > 9000h"),
    ] {
        env.create_monitor(
            name,
            json!({"url": livez, "interval": "1s", "failureThreshold": 1,
            "request": {"insecureSkipVerify": true, "timeout": "900ms"}, "conditions": ["[STATUS] == 200", condition]}),
        )
        .await;
    }
    env.wait("cert-ok Up", async || {
        (env.state("cert-ok").await == Some(MonitorState::Up)).then_some(())
    })
    .await;
    env.wait("cert-short Down", async || {
        (env.state("cert-short").await == Some(MonitorState::Down)).then_some(())
    })
    .await;
    let error = env
        .monitors()
        .get("cert-short")
        .await
        .expect("get")
        .status
        .and_then(|s| s.last_error)
        .unwrap_or_default();
    assert!(
        error.contains("[CERTIFICATE_EXPIRATION] > 9000h failed"),
        "{error}"
    );
    env.stop().await;
}

/// A server that accepts every request and answers none, counting the requests open at once.
struct Hanging {
    url: String,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

async fn hanging() -> Hanging {
    struct Open(Arc<AtomicUsize>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let open = Arc::new(AtomicUsize::new(0));
    let most_open = Arc::new(AtomicUsize::new(0));
    let (o, m) = (open.clone(), most_open.clone());
    let app = Router::new().fallback(get(move || {
        let (o, m) = (o.clone(), m.clone());
        async move {
            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let _open = Open(o);
            std::future::pending::<()>().await;
            StatusCode::OK
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Hanging {
        url,
        open,
        most_open,
    }
}

/// Every second a tick comes while the last check (5 s timeout, on a cron schedule, where the
/// CRD cannot compare the two) still hangs: the tick is skipped and counted, never stacked.
#[tokio::test]
async fn a_hanging_target_gets_one_check_at_a_time_and_skipped_ticks_are_counted() {
    let target = hanging().await;
    let env = Env::start(None).await;
    env.create_monitor(
        "slow",
        json!({"url": target.url, "schedule": "* * * * * *", "request": {"timeout": "5s"}}),
    )
    .await;
    let skipped = env
        .wait("three skipped ticks", async || {
            let n = env.operator.ctx.metrics.checks_skipped.get();
            (n >= 3).then_some(n)
        })
        .await;
    assert!(skipped >= 3);
    assert_eq!(
        target.most_open.load(Ordering::SeqCst),
        1,
        "checks of one Monitor overlapped"
    );
    assert!(target.open.load(Ordering::SeqCst) <= 1);
    env.stop().await;
}

/// An endless body is read up to the cap and no further: the check gets its status and the
/// first 256 KiB at once, instead of reading until the timeout and losing the body.
#[tokio::test]
async fn a_check_reads_the_body_only_up_to_the_cap() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut request).await;
                let head =
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
                if tcp.write_all(head).await.is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                while tcp.write_all(&chunk).await.is_ok() {
                    counted.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            });
        }
    });
    let clients = javari_operator::monitors::Clients::new();
    let request: javari_crds::monitor::CheckRequest =
        serde_json::from_value(json!({})).expect("request");
    let result =
        javari_operator::monitors::run_check(&clients, &url, &request, Duration::from_secs(20))
            .await;
    assert_eq!(result.status, Some(200));
    assert_eq!(result.error, None);
    let body = result.body.expect("the first part of the body");
    assert_eq!(body.len(), javari_operator::monitors::MAX_BODY);
}
