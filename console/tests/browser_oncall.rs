//! The on-call pages in a real browser with the operator's controllers running against the
//! real apiserver: the overview shows a Monitor turn Down within one check after its fake
//! target starts failing; an operator rolls a Project back from its page and sees the
//! rollback in its history; rotates a Credential from its page and sees its version go up;
//! a viewer sees no action button and gets 403 when posting one. Screenshots of the overview
//! and the Monitor page go to target/screenshots/.

#[path = "support/browser.rs"]
mod browser_harness;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use browser_harness::{
    action_buttons, browser, close, post_action_from_page, script_text, sign_in_as, sign_out,
    wait_until,
};
use fantoccini::{Client, Locator};
use javari_crds::{Credential, Monitor, Project};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::Harness;
use support::operator::{Operator, cluster_and_database};

/// Answers 200 while `healthy`, else 503.
async fn target(healthy: Arc<AtomicBool>) -> String {
    let app = Router::new().fallback(get(move || {
        let h = healthy.clone();
        async move {
            if h.load(Ordering::SeqCst) {
                (StatusCode::OK, "ok")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "down")
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/health", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = javari_testenv::workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    std::fs::write(dir.join(name), &png).expect("write screenshot");
    assert!(png.len() > 1000, "{name} is an image");
}

async fn create<K>(api: &Api<K>, body: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(body).expect("object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create");
}

/// Marks the Deployment's current template as rolled out and available.
async fn rolled_out(deployments: &Api<Deployment>, name: &str) {
    let d = deployments.get(name).await.expect("deployment");
    let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
    deployments
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("rollout status");
}

async fn image(deployments: &Api<Deployment>, name: &str) -> Option<String> {
    deployments
        .get_opt(name)
        .await
        .ok()??
        .spec?
        .template
        .spec?
        .containers
        .first()?
        .image
        .clone()
}

#[tokio::test]
async fn on_call_actions_in_a_browser_with_the_operator_running() {
    let (client, ns, pool) = cluster_and_database().await;
    let kube = client.clone();
    let h = Harness::start_with(pool.clone(), support::cluster::settings(), move |s| {
        s.with_kube(kube)
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(true));
    let url = target(healthy.clone()).await;
    let operator = Operator::start(&client, h.vault.clone(), &ns).await;

    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let projects: Api<Project> = Api::namespaced(client.clone(), &ns);
    let credentials: Api<Credential> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    create(
        &monitors,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
               "metadata": {"name": "checkout"},
               "spec": {"url": url, "interval": "2s", "failureThreshold": 1,
                        "request": {"timeout": "1s"}}}),
    )
    .await;
    create(
        &projects,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
               "metadata": {"name": "shop"}, "spec": {"image": "registry.local/shop:1"}}),
    )
    .await;
    create(
        &credentials,
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
               "metadata": {"name": "shop-db"},
               "spec": {"service": "postgres", "source": {"generate": {"length": 24}}}}),
    )
    .await;

    // shop:1 rolled out and known good, then shop:2 deployed.
    wait_until("shop:1 deployed", Duration::from_secs(60), async || {
        (image(&deployments, "shop").await.as_deref() == Some("registry.local/shop:1"))
            .then_some(())
    })
    .await;
    rolled_out(&deployments, "shop").await;
    wait_until("shop:1 known good", Duration::from_secs(60), async || {
        projects
            .get("shop")
            .await
            .ok()?
            .status?
            .last_known_good
            .map(|_| ())
    })
    .await;
    projects
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"image": "registry.local/shop:2"}})),
        )
        .await
        .expect("deploy shop:2");
    wait_until("shop:2 deployed", Duration::from_secs(60), async || {
        (image(&deployments, "shop").await.as_deref() == Some("registry.local/shop:2"))
            .then_some(())
    })
    .await;
    let version = wait_until("shop-db version 1", Duration::from_secs(60), async || {
        credentials.get("shop-db").await.ok()?.status?.version
    })
    .await;
    wait_until("checkout Up", Duration::from_secs(30), async || {
        let s = monitors.get("checkout").await.ok()?.status?;
        (s.state == javari_crds::monitor::MonitorState::Up).then_some(())
    })
    .await;

    let (driver, c, _profile) = browser().await;
    c.set_window_size(1280, 1000).await.expect("window size");
    sign_in_as(&c, &h, &h.operator.email, "/").await;
    let monitor = format!("{ns}/checkout");
    let tiles = "const t = document.querySelector('#tiles'); \
                 return t && t.getAttribute('data-updated') ? t.textContent : '';";
    wait_until(
        "the overview lists checkout and the live tiles run",
        Duration::from_secs(30),
        async || {
            script_text(&c, tiles)
                .await
                .filter(|text| text.contains(&monitor))
        },
    )
    .await;

    // The target fails: Down on the overview within one check (2 s) and a tile refresh (5 s).
    healthy.store(false, Ordering::SeqCst);
    let failed_at = std::time::Instant::now();
    wait_until(
        "the overview shows checkout Down",
        Duration::from_secs(20),
        async || {
            script_text(&c, tiles)
                .await
                .filter(|text| text.contains(&monitor) && text.contains("Down ·"))
        },
    )
    .await;
    println!(
        "checkout shown Down {} ms after its target started failing",
        failed_at.elapsed().as_millis()
    );
    screenshot(&c, "oncall-overview.png").await;
    c.goto(&h.url(&format!("/monitors/{ns}/checkout")))
        .await
        .expect("monitor page");
    wait_until(
        "the Monitor page says Major outage",
        Duration::from_secs(10),
        async || {
            script_text(
            &c,
            "const s = document.querySelector('#monitor-state'); return s ? s.textContent : '';",
        )
        .await
        .filter(|s| s == "Major outage")
        },
    )
    .await;
    screenshot(&c, "oncall-monitor.png").await;

    // Roll the Project back from its page: the rollback appears in its history.
    c.goto(&h.url(&format!("/projects/{ns}/shop")))
        .await
        .expect("project page");
    c.find(Locator::Css("#action-rollback"))
        .await
        .expect("roll back button")
        .click()
        .await
        .expect("roll back");
    wait_until("shop back on shop:1", Duration::from_secs(60), async || {
        (image(&deployments, "shop").await.as_deref() == Some("registry.local/shop:1"))
            .then_some(())
    })
    .await;
    let history = wait_until(
        "the rollback in the Project's history",
        Duration::from_secs(30),
        async || {
            c.goto(&h.url(&format!("/projects/{ns}/shop"))).await.ok()?;
            script_text(
                &c,
                "const l = document.querySelector('ol.rollbacks'); return l ? l.textContent : '';",
            )
            .await
            .filter(|t| t.contains("registry.local/shop:2 → registry.local/shop:1"))
        },
    )
    .await;
    assert!(history.contains("shop:1"), "{history}");

    // Rotate the Credential from its page: its version goes up.
    c.goto(&h.url(&format!("/credentials/{ns}/shop-db")))
        .await
        .expect("credential page");
    c.find(Locator::Css("#action-rotate"))
        .await
        .expect("rotate button")
        .click()
        .await
        .expect("rotate");
    let shown = wait_until(
        "the page shows the next version",
        Duration::from_secs(60),
        async || {
            c.goto(&h.url(&format!("/credentials/{ns}/shop-db")))
                .await
                .ok()?;
            let text = script_text(
                &c,
                "const v = document.querySelector('dd.version'); return v ? v.textContent : '';",
            )
            .await?;
            text.trim().parse::<i64>().ok().filter(|v| *v > version)
        },
    )
    .await;
    assert_eq!(shown, version + 1);

    // A viewer: no action buttons, and posting one anyway is refused.
    sign_out(&c).await;
    let monitor_page = format!("/monitors/{ns}/checkout");
    sign_in_as(&c, &h, &h.viewer.email, &monitor_page).await;
    assert_eq!(
        action_buttons(&c).await.as_deref(),
        Some("0"),
        "a viewer sees no action buttons"
    );
    let status = post_action_from_page(&c, &format!("{monitor_page}/check-now")).await;
    assert_eq!(status, "403");
    let m = monitors.get("checkout").await.expect("monitor");
    assert!(
        !kube::ResourceExt::annotations(&m).contains_key("javari.ai/requested-by"),
        "the viewer's post changed nothing"
    );

    close(c, driver).await;
    operator.stop().await;
}
