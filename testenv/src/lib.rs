//! The test harness: real parts only.
//!
//! - [`ControlPlane`]: etcd and kube-apiserver built from Go modules by `testenv/build-bins.sh`
//!   into `.bin/`, started on free loopback ports, with the Javari CRDs installed.
//! - [`PgCluster`]: a private PostgreSQL cluster from Debian's packages.
//! - [`FakeProvider`]: OpenAI, Anthropic and Gemini wire protocols with scripted faults.
//! - [`FakeGitHub`]: branch heads, deployments and deployment statuses.
//! - [`FakeS3`]: gofakes3, a real S3 protocol server, for backups.
//!
//! Processes started here are watched: when the process that started them exits, they are
//! stopped and their data directories removed, so a test binary never leaks servers.

mod control_plane;
mod database;
mod fake_github;
mod fake_provider;
mod fake_s3;
mod paths;
mod postgres;
mod process;
mod procfs;
mod wait;

pub use control_plane::{ControlPlane, install_crds};
pub use database::{RUNTIME_LOGIN, ensure_runtime_role, fresh_database, runtime_pool, runtime_url};
pub use fake_github::FakeGitHub;
pub use fake_provider::{Behaviour, FakeProvider};
pub use fake_s3::FakeS3;
pub use paths::{bin_dir, workspace_root};
pub use postgres::PgCluster;
pub use procfs::proc_status_kib;
pub use wait::eventually;

/// What can go wrong while standing up the test environment. Every message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: String,
        hint: &'static str,
    },
    #[error("failed to run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed: {output}")]
    Command { command: String, output: String },
    #[error("{what} did not become ready within {seconds}s; last log lines:\n{log}")]
    NotReady {
        what: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("invalid CRD YAML {path}: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A free TCP port on 127.0.0.1 (bound and released; the race is acceptable for tests).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Io {
        path: "127.0.0.1:0".into(),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| Error::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?
        .port();
    Ok(port)
}

/// Runs a tool; whether it succeeded, and what it printed (stdout, then stderr). Panics with
/// how to get the tool when it cannot be started.
pub fn tool_output(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (build the tools with `make bins`)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs a tool that must succeed; what it printed.
pub fn run_tool(cmd: &mut std::process::Command) -> String {
    let (ok, text) = tool_output(cmd);
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}
