//! Two `javari-operator` processes at once: only the Lease holder runs checks (one check per
//! interval, not two), and the standby takes over when the leader dies.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use javari_core::vault::MasterKey;
use javari_crds::Monitor;
use javari_testenv::{ControlPlane, eventually, free_port, fresh_database};
use kube::api::{Api, PostParams};
use serde_json::json;

struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The sum of a counter's series (0 when the process has none yet).
async fn counter(port: u16, name: &str) -> f64 {
    let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM javari_health_checks")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn two_replicas_run_each_check_once() {
    javari_core::http::install_crypto_provider();
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let database_url = fresh_database().await.expect("database");
    let runtime_url = javari_testenv::runtime_url(&database_url)
        .await
        .expect("runtime role");
    let key = MasterKey::generate().to_hex().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(|| async { "ok" }))
            .await
            .expect("serve")
    });

    let spawn = || {
        let port = free_port().expect("port");
        let child = Command::new(env!("CARGO_BIN_EXE_javari-operator"))
            .env("KUBECONFIG", cp.kubeconfig())
            .env("DATABASE_URL", &runtime_url)
            .env("JAVARI_MIGRATE_DATABASE_URL", &database_url)
            .env("JAVARI_MASTER_KEY", &key)
            .env("JAVARI_OPERATOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("JAVARI_WATCH_NAMESPACE", &ns)
            .env("POD_NAMESPACE", &ns)
            .env("JAVARI_LEASE_SECONDS", "3")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start javari-operator");
        Replica { child, port }
    };
    let a = spawn();
    let b = spawn();

    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let m = serde_json::from_value(
        json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor", "metadata": {"name": "once"},
        "spec": {"url": target, "interval": "1s", "request": {"timeout": "900ms"}}}),
    )
    .expect("monitor");
    monitors
        .create(&PostParams::default(), &m)
        .await
        .expect("monitor");

    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    eventually(
        "three checks are recorded",
        Duration::from_secs(60),
        async || (rows(&pool).await >= 3).then_some(()),
    )
    .await;
    let leaders = [
        metric(a.port, "javari_operator_leader").await,
        metric(b.port, "javari_operator_leader").await,
    ];
    assert_eq!(
        leaders.iter().flatten().sum::<f64>(),
        1.0,
        "exactly one leader: {leaders:?}"
    );

    // Five more checks, all run by the leader: the standby has run none.
    let before = rows(&pool).await;
    eventually("five more checks", Duration::from_secs(60), async || {
        (rows(&pool).await >= before + 5).then_some(())
    })
    .await;
    let checks = [
        counter(a.port, "javari_operator_monitor_checks_total").await,
        counter(b.port, "javari_operator_monitor_checks_total").await,
    ];
    let by_leader = if leaders[0] == Some(1.0) {
        checks[0]
    } else {
        checks[1]
    };
    assert!(
        by_leader >= 5.0 && checks.iter().filter(|&&c| c > 0.0).count() == 1,
        "one replica checks, not two: checks run by each {checks:?} (leaders {leaders:?})"
    );

    // The leader dies; the standby takes over within the Lease and checks go on.
    let (leader, standby) = if leaders[0] == Some(1.0) {
        (a, b)
    } else {
        (b, a)
    };
    drop(leader);
    eventually(
        "the standby takes over",
        Duration::from_secs(20),
        async || (metric(standby.port, "javari_operator_leader").await == Some(1.0)).then_some(()),
    )
    .await;
    let before = rows(&pool).await;
    eventually(
        "checks go on after the takeover (two more)",
        Duration::from_secs(20),
        async || (rows(&pool).await >= before + 2).then_some(()),
    )
    .await;
}
