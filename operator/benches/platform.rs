//! `make bench` (part two): 1,000 Projects reconciled to steady state, and 1,000 Monitors at a
//! 10 s interval — how late checks run against their schedule (p99), with the operator's CPU
//! and memory — using the real `javari-operator` binary, kube-apiserver and PostgreSQL.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use javari_crds::{Monitor, Project};
use javari_testenv::{ControlPlane, fresh_database};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::OperatorProcess;

const PROJECTS: usize = 1_000;
const MONITORS: usize = 1_000;
const MONITOR_INTERVAL: Duration = Duration::from_secs(10);
const MONITOR_WINDOW: Duration = Duration::from_secs(60);

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn create_all<K>(api: &Api<K>, objects: Vec<K>)
where
    K: kube::Resource
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    futures::stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &o).await.map(|_| ()) }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("create");
}

/// Ready, then 5 s more for the first reconciles and timers to settle.
async fn settled(operator: OperatorProcess) -> OperatorProcess {
    operator.ready().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    operator
}

#[tokio::main]
async fn main() {
    javari_core::http::install_crypto_provider();
    let cp = ControlPlane::start().await.expect("control plane");
    let client = cp.client().await.expect("client");
    javari_testenv::install_crds(&client).await.expect("CRDs");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let database_url = fresh_database()
        .await
        .expect("database (run through `make bench`)");

    // Check targets: record when each Monitor's checks arrive.
    let arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/m/{id}",
        axum::routing::get(
            move |axum::extract::Path(id): axum::extract::Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(id)
                        .or_default()
                        .push(Instant::now());
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let projects_ns = ns;
    let operator = settled(OperatorProcess::spawn(
        &cp,
        &database_url,
        &projects_ns,
        "error",
    ))
    .await;
    let pid = operator.pid;
    let idle = operator.mib("VmRSS:");
    println!("javari-operator idle (Ready, no objects): RSS {idle:.1} MiB");

    // 1,000 Projects to steady state: Deployment, Service and status for each.
    let projects: Api<Project> = Api::namespaced(client.clone(), &projects_ns);
    let objects: Vec<Project> = (0..PROJECTS)
        .map(|i| {
            serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
                "metadata": {"name": format!("app-{i}")}, "spec": {"image": format!("registry.local/app:{i}"), "replicas": 1}}))
            .expect("project")
        })
        .collect();
    let started = Instant::now();
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    create_all(&projects, objects).await;
    loop {
        let list = projects.list(&ListParams::default()).await.expect("list");
        let done = list
            .items
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .is_some_and(|s| s.deployed_image.is_some())
            })
            .count();
        if done == PROJECTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {done} Projects reconciled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let projects_in = started.elapsed();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &projects_ns)
        .list_metadata(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(deployments.items.len(), PROJECTS);
    let project_cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    println!(
        "reconcile {PROJECTS} Projects to steady state (Deployment + Service + status): {:.1} s, operator CPU {project_cpu:.1} s ({:.1} ms per Project)",
        projects_in.as_secs_f64(),
        project_cpu * 1000.0 / PROJECTS as f64
    );
    let with_projects = operator.mib("VmRSS:");
    println!(
        "javari-operator with {PROJECTS} Projects: RSS {with_projects:.1} MiB ({:.1} KiB per Project over idle)",
        (with_projects - idle) * 1024.0 / PROJECTS as f64
    );

    drop(operator);

    // 1,000 Monitors every 10 s, watched by a fresh operator in a namespace of their own (the
    // goal is per kind): lateness of each check against its schedule.
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let operator = settled(OperatorProcess::spawn(&cp, &database_url, &ns, "error")).await;
    let pid = operator.pid;
    let idle = operator.mib("VmRSS:");
    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let objects: Vec<Monitor> = (0..MONITORS)
        .map(|i| {
            serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
                "metadata": {"name": format!("check-{i}")}, "spec": {"url": format!("{target}/m/{i}"), "interval": "10s", "request": {"timeout": "5s"}}}))
            .expect("monitor")
        })
        .collect();
    create_all(&monitors, objects).await;
    tokio::time::sleep(MONITOR_INTERVAL * 2).await; // every Monitor scheduled and ticking
    arrivals.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    tokio::time::sleep(MONITOR_WINDOW).await;
    let cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let seen = arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut lateness: Vec<f64> = seen
        .values()
        .flat_map(|times| {
            times
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64() - MONITOR_INTERVAL.as_secs_f64())
        })
        .map(f64::abs)
        .collect();
    lateness.sort_by(f64::total_cmp);
    let checks: usize = seen.values().map(Vec::len).sum();
    println!(
        "{MONITORS} Monitors at 10 s for {} s: {checks} checks from {} Monitors; deviation from schedule p50 {:.0} ms, p99 {:.0} ms",
        MONITOR_WINDOW.as_secs(),
        seen.len(),
        percentile(&lateness, 0.50) * 1000.0,
        percentile(&lateness, 0.99) * 1000.0
    );
    let with_monitors = operator.mib("VmRSS:");
    println!(
        "javari-operator with {MONITORS} Monitors (fresh operator, idle {idle:.1} MiB): CPU {:.1}% of one core, RSS {with_monitors:.1} MiB ({:.1} KiB per Monitor over idle), peak {:.1} MiB",
        100.0 * cpu / MONITOR_WINDOW.as_secs_f64(),
        (with_monitors - idle) * 1024.0 / MONITORS as f64,
        operator.mib("VmHWM:")
    );
}
