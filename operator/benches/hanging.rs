//! `make bench` (part three): the operator's memory with 100 Monitors pointed at a server that
//! accepts connections and never answers, checked every second (timeout 900 ms), for a minute;
//! and 20 more on a per-second cron schedule with a 30 s timeout, where ticks come while the
//! last check still hangs (skipped and counted, never stacked). Prints RSS at the start and
//! the end; asserts nothing about it.

mod support;

use std::time::{Duration, Instant};

use javari_crds::Monitor;
use javari_testenv::{ControlPlane, fresh_database};
use kube::api::{Api, PostParams};
use serde_json::json;
use support::OperatorProcess;

const MONITORS: usize = 100;
const CRON_MONITORS: usize = 20;
const WINDOW: Duration = Duration::from_secs(60);

/// A counter from the operator's /metrics.
async fn metric(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let Ok(response) = http.get(url).send().await else {
        return f64::NAN;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
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

    // The hanging target: reads requests, answers nothing, keeps every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });

    let operator = OperatorProcess::spawn(&cp, &database_url, &ns, "error");
    let port = operator.port;
    let http = reqwest::Client::new();
    let metrics = format!("http://127.0.0.1:{port}/metrics");

    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    for i in 0..MONITORS {
        let m: Monitor = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
            "metadata": {"name": format!("hang-{i}")},
            "spec": {"url": format!("{target}/m/{i}"), "interval": "1s", "request": {"timeout": "900ms"}}}))
        .expect("monitor");
        monitors
            .create(&PostParams::default(), &m)
            .await
            .expect("create monitor");
    }
    for i in 0..CRON_MONITORS {
        let m: Monitor = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
            "metadata": {"name": format!("cron-{i}")},
            "spec": {"url": format!("{target}/c/{i}"), "schedule": "* * * * * *", "request": {"timeout": "30s"}}}))
        .expect("monitor");
        monitors
            .create(&PostParams::default(), &m)
            .await
            .expect("create monitor");
    }
    // Every Monitor scheduled and failing: wait until checks are being stored.
    let started = Instant::now();
    while metric(&http, &metrics, "javari_operator_monitor_checks_total").await < MONITORS as f64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the Monitors never ran"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let start_rss = operator.mib("VmRSS:");
    let start_checks = metric(&http, &metrics, "javari_operator_monitor_checks_total").await;
    let mut samples = vec![start_rss];
    let window = Instant::now();
    while window.elapsed() < WINDOW {
        tokio::time::sleep(Duration::from_secs(5)).await;
        samples.push(operator.mib("VmRSS:"));
    }
    let end_rss = operator.mib("VmRSS:");
    let checks =
        metric(&http, &metrics, "javari_operator_monitor_checks_total").await - start_checks;
    let skipped = metric(
        &http,
        &metrics,
        "javari_operator_monitor_checks_skipped_total",
    )
    .await;
    println!(
        "javari-operator, {MONITORS} Monitors every 1 s (timeout 900 ms) + {CRON_MONITORS} every second by cron (timeout 30 s) against a server that never answers, {} s:",
        WINDOW.as_secs()
    );
    println!(
        "  RSS at start {start_rss:.1} MiB, at end {end_rss:.1} MiB (min {:.1}, max {:.1}); peak {:.1} MiB",
        samples.iter().copied().fold(f64::INFINITY, f64::min),
        samples.iter().copied().fold(0.0, f64::max),
        operator.mib("VmHWM:")
    );
    println!(
        "  {checks:.0} checks stored in the window; {skipped:.0} ticks skipped while a check still ran"
    );
}
