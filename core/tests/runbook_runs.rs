//! Runbook runs on a real PostgreSQL, with the repository's own runbooks: confirmation before
//! a change, approval by someone else, retries, a failed step that resumes, every attempt on the
//! run and on the incident's timeline. The Kubernetes side is a recording executor here (the
//! console's real one talks to the apiserver); sql steps run for real.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use javari_core::incidents::timeline;
use javari_core::monitors::open_incident;
use javari_core::runbooks::{
    Catalogue, KubeAction, RunError, Runner, StepExecutor, Values, preview,
};
use javari_testenv::workspace_root;
use sqlx::PgPool;

#[derive(Default)]
struct Recorder {
    kube: Mutex<Vec<(String, KubeAction, String)>>,
    healthy: AtomicBool,
    verifies: AtomicUsize,
}

impl StepExecutor for Recorder {
    async fn kube(
        &self,
        namespace: &str,
        action: &KubeAction,
        actor: &str,
    ) -> Result<String, String> {
        self.kube.lock().expect("lock").push((
            namespace.to_owned(),
            action.clone(),
            actor.to_owned(),
        ));
        Ok(format!("{action:?} applied"))
    }

    async fn verify(&self, _namespace: &str, monitor: &str) -> Result<String, String> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        if self.healthy.load(Ordering::SeqCst) {
            Ok(format!("{monitor}: all conditions hold"))
        } else {
            Err(format!("{monitor}: [STATUS] == 200 failed (503)"))
        }
    }
}

fn params(pairs: &[(&str, &str)]) -> Values {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_failed_deployment_run_confirms_retries_and_resumes(pool: PgPool) {
    let catalogue = Catalogue::load_dir(&workspace_root().join("runbooks")).expect("runbooks");
    let recorder = Recorder::default();
    let http = javari_core::http::client();
    let runner = Runner {
        pool: &pool,
        catalogue: &catalogue,
        http: &http,
        executor: &recorder,
    };
    let incident = open_incident(
        &pool,
        "monitor:prod/web",
        "web is down",
        javari_crds::common::Severity::P1,
        ("monitor", "prod", "web"),
        None,
        "failed",
    )
    .await
    .expect("incident");

    let e = runner
        .start(
            "failed-deployment",
            Some(incident),
            "prod",
            params(&[("project", "web")]),
            "bob",
        )
        .await
        .expect_err("monitor missing");
    assert!(
        matches!(e, RunError::MissingParameter(ref p) if p == "monitor"),
        "{e}"
    );
    let values = params(&[
        ("project", "web"),
        ("monitor", "web-health"),
        ("namespace", "prod"),
    ]);
    let plan = preview(
        catalogue.get("failed-deployment").expect("runbook"),
        &values,
    )
    .expect("preview");
    assert_eq!(
        plan.iter()
            .map(|p| p.needs_confirmation)
            .collect::<Vec<_>>(),
        [false, true, false, false]
    );
    assert!(plan[1].does.contains("RollbackProject") && plan[1].does.contains("\"web\""));
    assert!(
        recorder.kube.lock().expect("lock").is_empty(),
        "a preview runs nothing"
    );

    let run = runner
        .start(
            "failed-deployment",
            Some(incident),
            "prod",
            params(&[("project", "web"), ("monitor", "web-health")]),
            "bob",
        )
        .await
        .expect("start");

    // 1. sql: runs for real against the schema.
    let r = runner.advance(run, "bob", false).await.expect("sql step");
    assert_eq!((r.status.as_str(), r.current_step), ("running", 2));

    // 2. kube: refused without confirmation, applied with it.
    let e = runner
        .advance(run, "bob", false)
        .await
        .expect_err("unconfirmed");
    assert!(
        matches!(e, RunError::NeedsConfirmation { step: 2, .. }),
        "{e}"
    );
    assert!(recorder.kube.lock().expect("lock").is_empty());
    runner.advance(run, "bob", true).await.expect("kube step");
    assert_eq!(
        *recorder.kube.lock().expect("lock"),
        [(
            "prod".to_owned(),
            KubeAction::RollbackProject {
                project: "web".into()
            },
            "bob".to_owned()
        )]
    );

    // 3. verify fails on every try (1 + 3 retries): the run stops there.
    let r = runner.advance(run, "bob", false).await.expect("verify ran");
    assert_eq!((r.status.as_str(), r.current_step), ("failed", 3));
    assert_eq!(recorder.verifies.load(Ordering::SeqCst), 4);

    // The target recovers; the run resumes at the failed step, not from the start.
    recorder.healthy.store(true, Ordering::SeqCst);
    let r = runner.advance(run, "carol", false).await.expect("resume");
    assert_eq!((r.status.as_str(), r.current_step), ("running", 4));
    assert_eq!(
        recorder.kube.lock().expect("lock").len(),
        1,
        "step 2 was not repeated"
    );

    // 4. manual: ticked off.
    let r = runner.advance(run, "carol", false).await.expect("manual");
    assert_eq!((r.status.as_str(), r.current_step), ("succeeded", 5));
    let e = runner
        .advance(run, "carol", false)
        .await
        .expect_err("finished");
    assert!(matches!(e, RunError::Finished(_)));

    let (_, steps) = runner.get(run).await.expect("get");
    let summary: Vec<(i32, i32, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s.step_number,
                s.attempt,
                s.status.as_str(),
                s.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, 1, "succeeded", "bob"),
            (2, 1, "succeeded", "bob"),
            (3, 1, "failed", "bob"),
            (3, 2, "failed", "bob"),
            (3, 3, "failed", "bob"),
            (3, 4, "failed", "bob"),
            (3, 5, "succeeded", "carol"),
            (4, 1, "succeeded", "carol"),
        ]
    );
    assert!(steps[2].output.contains("[STATUS] == 200 failed"));

    // The incident's timeline tells the same story, in order, with the actors.
    let events = timeline(&pool, incident).await.expect("timeline");
    let run_events: Vec<String> = events
        .iter()
        .filter(|e| e.kind.starts_with("runbook"))
        .map(|e| format!("{} {}", e.actor.as_deref().unwrap_or(""), e.message))
        .collect();
    assert_eq!(run_events.len(), 1 + 8);
    assert_eq!(run_events[0], "bob runbook failed-deployment started");
    assert!(run_events[2].starts_with("bob failed-deployment step 2 Roll back: succeeded"));
    assert!(
        run_events[7].starts_with("carol failed-deployment step 3 Verify: succeeded (attempt 5")
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn an_approval_needs_someone_else(pool: PgPool) {
    let catalogue = Catalogue::load_dir(&workspace_root().join("runbooks")).expect("runbooks");
    let recorder = Recorder::default();
    let http = javari_core::http::client();
    let runner = Runner {
        pool: &pool,
        catalogue: &catalogue,
        http: &http,
        executor: &recorder,
    };
    let e = runner
        .start(
            "api-down",
            None,
            "prod",
            params(&[("project", "web"), ("monitor", "m"), ("color", "red")]),
            "bob",
        )
        .await
        .expect_err("unknown parameter");
    assert!(matches!(e, RunError::UnknownParameter(_)));
    let run = runner
        .start(
            "api-down",
            None,
            "prod",
            params(&[("project", "web"), ("monitor", "web-health")]),
            "bob",
        )
        .await
        .expect("start");
    // 1. verify fails but says `on_failure: continue`; 2. sql.
    let r = runner.advance(run, "bob", false).await.expect("verify");
    assert_eq!((r.status.as_str(), r.current_step), ("running", 2));
    runner.advance(run, "bob", false).await.expect("sql");
    // 3. approval.
    let r = runner
        .advance(run, "bob", false)
        .await
        .expect("approval requested");
    assert_eq!(r.status, "awaiting_approval");
    let e = runner.advance(run, "bob", true).await.expect_err("waits");
    assert!(matches!(e, RunError::AwaitingApproval(3)));
    let e = runner.approve(run, "bob").await.expect_err("self-approval");
    assert!(matches!(e, RunError::SelfApproval));
    let r = runner.approve(run, "carol").await.expect("approved");
    assert_eq!((r.status.as_str(), r.current_step), ("running", 4));
    let e = runner
        .approve(run, "dave")
        .await
        .expect_err("nothing to approve");
    assert!(matches!(e, RunError::NotAwaitingApproval));
    // 4. kube rollback, confirmed.
    runner.advance(run, "bob", true).await.expect("rollback");
    assert_eq!(recorder.kube.lock().expect("lock").len(), 1);
    runner.cancel(run, "bob").await.expect("cancel");
    let e = runner
        .advance(run, "bob", true)
        .await
        .expect_err("cancelled");
    assert!(matches!(e, RunError::Finished(ref s) if s == "cancelled"));
}
