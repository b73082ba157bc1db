//! A schema-driven fuzz run: schemathesis (installed by `make deps` into `.javari/venv`)
//! reads `GET /api/openapi.json` from a live console on a real PostgreSQL, signed in with an
//! admin's API token so every operation is reached, and sends each operation examples,
//! boundary values and random (also invalid) input. It must run every operation, get no 5xx,
//! and every response must match the document (status, content type, body schema).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use support::Harness;

/// Test cases per operation and phase: enough to find refusals that are 500s, small enough
/// for the run to take a minute or two.
const MAX_EXAMPLES: &str = "25";
/// A fixed seed: the same cases every run, so a failure reproduces.
const SEED: &str = "20261128";
/// The whole run's limit.
const RUN_LIMIT: Duration = Duration::from_secs(420);
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,response_headers_conformance";

fn schemathesis() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let bin = root.join(".javari/venv/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run `make deps` (or testenv/install-schemathesis.sh)",
        bin.display()
    );
    bin
}

/// `METHOD /path` of every operation of the document.
fn operations(document: &Value) -> Vec<String> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                all.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    all
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_document(pool: PgPool) {
    let bin = schemathesis();
    // With a cluster, so the resource actions answer as in production (404 for what does
    // not exist), not 503.
    let (client, _namespace) = support::cluster::cluster().await;
    let h = Harness::with_kube(pool, support::test_settings(), Some(client)).await;
    let document: Value = h
        .http
        .get(h.url("/api/openapi.json"))
        .send()
        .await
        .expect("openapi.json")
        .json()
        .await
        .expect("document");
    let expected = operations(&document);

    let reports = std::env::temp_dir().join(format!("javari-fuzz-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&reports).expect("report dir");
    let report = reports.join("events.ndjson");
    // The document as served, from a file: loaded from its URL, schemathesis leaves out the
    // operation that serves it.
    let schema = reports.join("openapi.json");
    std::fs::write(&schema, document.to_string()).expect("write the document");
    let child = tokio::process::Command::new(&bin)
        .arg("run")
        .arg(&schema)
        .args(["--url", &h.base])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", h.admin_token),
        ])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        // One worker: hypothesis parses lambdas' source with `ast`, which Python 3.11 cannot
        // do from two threads at once ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--max-redirects", "0"])
        .args(["--report", "ndjson"])
        .arg("--report-ndjson-path")
        .arg(&report)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(&reports)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start schemathesis");
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_LIMIT:?}"))
        .expect("schemathesis output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let events = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&reports);

    assert!(
        output.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{stderr}",
        output.status.code()
    );
    // Every operation of the document ran test cases in the coverage or fuzzing phase.
    let ran = operations_that_ran(&events);
    let untested: Vec<&String> = expected.iter().filter(|op| !ran.contains(*op)).collect();
    assert!(
        untested.is_empty(),
        "schemathesis ran no test case of {untested:?} (of {} operations):\n{stdout}",
        expected.len()
    );
}

/// Operations with a scenario of the coverage or fuzzing phase that ran (passed or failed,
/// not skipped or errored), from schemathesis' NDJSON event log.
fn operations_that_ran(events: &str) -> Vec<String> {
    events
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| {
            let finished = event.get("ScenarioFinished")?;
            let phase = finished["phase"].as_str()?;
            let status = finished["status"].as_str()?;
            ((phase == "coverage" || phase == "fuzzing")
                && (status == "success" || status == "failure"))
                .then(|| finished["recorder"]["label"].as_str().map(str::to_owned))?
        })
        .collect()
}
