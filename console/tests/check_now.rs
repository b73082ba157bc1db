//! "Check now" on a Monitor, on the real apiserver with the operator's controllers running
//! in-process: the console's button (operator role, CSRF, audited) sets
//! `javari.ai/check-now`; the operator runs one check at once — never two of one Monitor at
//! a time — and removes the annotation. A viewer gets 403 and changes nothing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use javari_core::vault::{Keyring, MasterKey, Vault};
use javari_crds::Monitor;
use javari_crds::monitor::CHECK_NOW_ANNOTATION;
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::Harness;
use support::forms::{client_from, page_csrf, sign_in};
use support::operator::{Operator, cluster_and_database};
use support::wait_for;

/// Counts requests and the most ever in flight at once; each answer takes `delay`.
#[derive(Default)]
struct Target {
    hits: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

async fn serve_target(t: Arc<Target>, delay: Duration) -> String {
    let app = Router::new().fallback(get(move || {
        let t = t.clone();
        async move {
            t.hits.fetch_add(1, Ordering::SeqCst);
            let now = t.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            t.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            t.in_flight.fetch_sub(1, Ordering::SeqCst);
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/health", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

async fn checks_stored(pool: &sqlx::PgPool, ns: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM javari_health_checks WHERE monitor_namespace = $1 AND monitor_name = 'api'",
    )
    .bind(ns)
    .fetch_one(pool)
    .await
    .expect("count")
}

#[tokio::test]
async fn check_now_runs_one_check_at_once_and_clears_the_request() {
    let (client, ns, pool) = cluster_and_database().await;

    let target = Arc::new(Target::default());
    let url = serve_target(target.clone(), Duration::from_millis(1500)).await;

    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let operator = Operator::start(&client, vault, &ns).await;
    let kube = client.clone();
    let h = Harness::start_with(pool.clone(), support::test_settings(), move |s| {
        s.with_kube(kube)
    })
    .await;

    // Checked once an hour: any check within the test is one somebody asked for.
    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let m: Monitor = serde_json::from_value(json!({
        "apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
        "metadata": {"name": "api"},
        "spec": {"url": url, "interval": "1h", "request": {"timeout": "5s"}}
    }))
    .expect("monitor");
    monitors
        .create(&PostParams::default(), &m)
        .await
        .expect("monitor");
    wait_for(
        "the Monitor scheduled",
        Duration::from_secs(30),
        async || {
            let m = monitors.get("api").await.ok()?;
            (m.status?.observed_generation == m.metadata.generation).then_some(())
        },
    )
    .await;
    assert_eq!(target.hits.load(Ordering::SeqCst), 0);

    // A viewer sees no button and is refused.
    let viewer_http = client_from("127.0.0.71");
    let viewer = sign_in(&viewer_http, &h, &h.viewer.email).await;
    let page = viewer_http
        .get(h.url(&format!("/monitors/{ns}/api")))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("action-check-now"), "no button for a viewer");
    let csrf = page_csrf(&viewer_http, &h, &viewer, "/chat").await;
    let refused = viewer_http
        .post(h.url(&format!("/monitors/{ns}/api/check-now")))
        .header("cookie", &viewer)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    let m = monitors.get("api").await.expect("monitor");
    assert!(!m.annotations().contains_key(CHECK_NOW_ANNOTATION));

    // The operator presses the button (CSRF required).
    let http = client_from("127.0.0.72");
    let session = sign_in(&http, &h, &h.operator.email).await;
    let page = http
        .get(h.url(&format!("/monitors/{ns}/api")))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("action-check-now"));
    let no_csrf = http
        .post(h.url(&format!("/monitors/{ns}/api/check-now")))
        .header("cookie", &session)
        .form(&[("x", "y")])
        .send()
        .await
        .expect("post");
    assert_eq!(no_csrf.status().as_u16(), 403);
    let csrf = page_csrf(&http, &h, &session, &format!("/monitors/{ns}/api")).await;
    let pressed = http
        .post(h.url(&format!("/monitors/{ns}/api/check-now")))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(pressed.status().as_u16(), 303);
    assert_eq!(
        pressed.headers()["location"],
        format!("/monitors/{ns}/api?notice=check-now").as_str()
    );
    wait_for("the target checked", Duration::from_secs(20), async || {
        (target.hits.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    // While that check runs (1.5 s), a second request starts no second check.
    let (status, _) = {
        let r = h
            .http
            .post(h.url(&format!("/api/platform/monitors/{ns}/api/check-now")))
            .bearer_auth(&h.operator_token)
            .send()
            .await
            .expect("api");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 202);
    wait_for(
        "the requests cleared",
        Duration::from_secs(20),
        async || {
            let m = monitors.get("api").await.ok()?;
            (!m.annotations().contains_key(CHECK_NOW_ANNOTATION)).then_some(())
        },
    )
    .await;
    wait_for("the check stored", Duration::from_secs(30), async || {
        (checks_stored(&pool, &ns).await >= 1).then_some(())
    })
    .await;
    assert_eq!(
        target.most.load(Ordering::SeqCst),
        1,
        "never two checks at once"
    );
    let hits = target.hits.load(Ordering::SeqCst);
    assert!((1..=2).contains(&hits), "{hits} checks for two requests");

    // Who asked: the annotation, an Event, the audit log.
    let m = monitors.get("api").await.expect("monitor");
    let asked = m
        .annotations()
        .get("javari.ai/requested-by")
        .cloned()
        .unwrap_or_default();
    assert!(asked.contains("check-now"), "{asked}");
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    wait_for("the Events", Duration::from_secs(20), async || {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=api"))
            .await
            .ok()?;
        let requested = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("CheckRequested")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains(&h.operator.email))
        });
        let answered = list
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("CheckNow"));
        (requested && answered).then_some(())
    })
    .await;
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM javari_audit_log WHERE action = 'monitor.check-now' AND resource_id = $1 ORDER BY id",
    )
    .bind(format!("{ns}/api"))
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        audited,
        vec![h.operator.email.clone(), h.operator.email.clone()]
    );

    operator.stop().await;
}
