//! `javari-operator` against a real kube-apiserver: refuses to run without the CRDs, reports
//! ready once they are installed, migrates the shared schema, and never logs a secret value.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use javari_crds::Credential;
use javari_testenv::{ControlPlane, eventually, free_port, fresh_database, install_crds};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// The operator as installed: queries as the runtime role, migrations as the owner.
fn operator(cp: &ControlPlane, urls: &(String, String), port: u16) -> Command {
    let (owner_url, runtime_url) = urls;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_javari-operator"));
    cmd.env("KUBECONFIG", cp.kubeconfig())
        .env("DATABASE_URL", runtime_url)
        .env("JAVARI_MIGRATE_DATABASE_URL", owner_url)
        .env("JAVARI_OPERATOR_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "JAVARI_MASTER_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for(url: &str, want: u16, child: &mut Child) -> reqwest::Response {
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(url).await
            && response.status().as_u16() == want
        {
            return response;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("operator exited with {status} before {url} answered {want}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{url} did not answer {want} within 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn operator_needs_the_crds_and_is_ready_with_them() {
    let cp = ControlPlane::start().await.expect("control plane");
    let database_url = fresh_database().await.expect("database");
    let urls = (
        database_url.clone(),
        javari_testenv::runtime_url(&database_url)
            .await
            .expect("runtime role"),
    );

    // Without the CRDs: a clear message and a non-zero exit.
    let output = tokio::task::spawn_blocking({
        let mut cmd = operator(&cp, &urls, free_port().expect("port"));
        move || cmd.output()
    })
    .await
    .expect("join")
    .expect("run operator");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit code; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("the Javari CRDs are not installed"),
        "{stderr}"
    );
    for crd in [
        "projects.javari.ai",
        "providers.javari.ai",
        "monitors.javari.ai",
        "credentials.javari.ai",
        "backuppolicies.javari.ai",
    ] {
        assert!(stderr.contains(crd), "message names {crd}: {stderr}");
    }
    assert!(
        stderr.contains("kubectl apply -f charts/javari/crds/"),
        "message says how to fix it: {stderr}"
    );

    // With the CRDs: ready, metrics say so, and the schema is migrated.
    install_crds(&cp.client().await.expect("client"))
        .await
        .expect("install CRDs");
    let port = free_port().expect("port");
    let log_path = cp.dir().join("operator.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Running(
        operator(&cp, &urls, port)
            .env("RUST_LOG", "debug")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/readyz"), 200, &mut child.0).await;
    let healthz = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(metrics.contains("javari_operator_ready 1"), "{metrics}");
    assert!(
        !metrics.contains(&database_url),
        "metrics never carry connection strings"
    );

    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'javari_%'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert!(
        tables >= 20,
        "operator applied the migrations ({tables} tables)"
    );

    // A credential goes through the real binary; its value shows up in no log line.
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let credentials: Api<Credential> = Api::namespaced(client.clone(), &ns);
    let cred: Credential = serde_json::from_value(serde_json::json!({
        "apiVersion": "javari.ai/v1alpha1", "kind": "Credential", "metadata": {"name": "db"},
        "spec": {"service": "postgres", "source": {"generate": {"length": 32}}}
    }))
    .expect("credential");
    credentials
        .create(&Default::default(), &cred)
        .await
        .expect("create");
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let started = Instant::now();
    let value = loop {
        if let Some(v) = secrets
            .get_opt("db")
            .await
            .expect("get")
            .and_then(|s| s.data?.remove("value"))
        {
            break v.0;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no Secret from the operator binary"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The reconcile is over once its last step, the status, is written: all it logged is in
    // the file by then.
    eventually(
        "the Credential's status shows version 1",
        Duration::from_secs(60),
        async || {
            let status = credentials.get("db").await.ok()?.status?;
            (status.version == Some(1)).then_some(())
        },
    )
    .await;
    let logs = std::fs::read(&log_path).expect("read logs");
    assert!(logs.len() > 1000, "debug logs were written");
    let as_text = String::from_utf8_lossy(&value).into_owned();
    assert!(
        !String::from_utf8_lossy(&logs).contains(&as_text),
        "the secret value leaked into the logs"
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(!metrics.contains(&as_text));
    assert!(
        metrics.contains(r#"javari_operator_reconciles_total{kind="Credential"}"#),
        "{metrics}"
    );
}
