//! What the operator benches share: the real `javari-operator` binary as a child process
//! against the test control plane, and its memory figures from `/proc`.

// Each bench uses part of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use javari_core::vault::MasterKey;
use javari_testenv::{ControlPlane, free_port, proc_status_kib};

/// A running `javari-operator`, killed when dropped.
pub struct OperatorProcess {
    child: Child,
    pub pid: u32,
    pub port: u16,
}

impl OperatorProcess {
    /// Starts the release binary watching `ns` (its lease in `ns` too), with a fresh master key.
    pub fn spawn(cp: &ControlPlane, database_url: &str, ns: &str, log: &str) -> Self {
        let port = free_port().expect("port");
        let child = Command::new(env!("CARGO_BIN_EXE_javari-operator"))
            .env("KUBECONFIG", cp.kubeconfig())
            .env("DATABASE_URL", database_url)
            .env("JAVARI_MASTER_KEY", MasterKey::generate().to_hex().as_str())
            .env("JAVARI_OPERATOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("JAVARI_WATCH_NAMESPACE", ns)
            .env("POD_NAMESPACE", ns)
            .env("RUST_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start javari-operator");
        let pid = child.id();
        Self { child, pid, port }
    }

    /// Waits until `/readyz` answers (leader, watches synced, scheduler started).
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{}/readyz", self.port);
        let waited = Instant::now();
        while !http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "the operator did not become Ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A `/proc/<pid>/status` memory field (`VmRSS:`, `VmHWM:`) in MiB; NaN without `/proc`.
    pub fn mib(&self, field: &str) -> f64 {
        proc_status_kib(self.pid, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
