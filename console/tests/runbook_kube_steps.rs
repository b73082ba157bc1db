//! Every `kube` step of every runbook in `runbooks/`, run through the real executor against
//! the real apiserver with the operator's controllers in-process, each checked by its effect:
//! a Project rolled back to its last known good image, a Deployment restarted, a Credential
//! rotated to a new version, a Provider marked down. The actions no runbook uses yet (scale,
//! suspend and resume a Monitor) and `verify` are exercised too.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use javari_core::runbooks::{Action, Catalogue, KubeAction, StepExecutor, Values, rendered};
use javari_core::vault::{Keyring, MasterKey, Vault};
use javari_crds::monitor::MonitorState;
use javari_crds::{Credential, Monitor, Project, Provider};
use javari_testenv::workspace_root;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::operator::{Operator, cluster_and_database};

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn create<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> K {
    serde_json::from_value(value).expect("resource")
}

#[tokio::test]
async fn every_kube_step_of_the_runbooks_changes_the_cluster() {
    let (client, ns, pool) = cluster_and_database().await;
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let app = Router::new().fallback(get(move || {
        let h = h.clone();
        async move {
            if h.load(Ordering::SeqCst) {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let operator = Operator::start(&client, vault, &ns).await;
    let executor = javari_core::runbooks::KubeExecutor::new(
        Some(client.clone()),
        javari_core::runbooks::DEFAULT_PROJECT_URL,
    );

    let projects: Api<Project> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let credentials: Api<Credential> = Api::namespaced(client.clone(), &ns);
    let providers: Api<Provider> = Api::namespaced(client.clone(), &ns);
    let monitors: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    projects
        .create(
            &pp,
            &create(
                json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
            "metadata": {"name": "web"}, "spec": {"image": "registry.local/web:1"}}),
            ),
        )
        .await
        .expect("project");
    credentials
        .create(&pp, &create(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
            "metadata": {"name": "db-password"},
            "spec": {"service": "postgres", "type": "databasePassword", "source": {"generate": {"length": 24}}}})))
        .await
        .expect("credential");
    providers
        .create(&pp, &create(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Provider",
            "metadata": {"name": "openai"},
            "spec": {"api": "openai", "endpoint": format!("{target}/v1"), "credentialRef": {"name": "db-password"},
                     "probe": {"interval": "1s", "timeout": "900ms"},
                     "models": [{"name": "gpt-4o", "inputCostPer1k": 0.01, "outputCostPer1k": 0.03}]}})))
        .await
        .expect("provider");
    monitors
        .create(&pp, &create(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
            "metadata": {"name": "web-health"},
            "spec": {"url": format!("{target}/health"), "interval": "1s", "request": {"timeout": "900ms"}}})))
        .await
        .expect("monitor");

    let image = async || -> Option<String> {
        deployments
            .get_opt("web")
            .await
            .ok()??
            .spec?
            .template
            .spec?
            .containers
            .first()?
            .image
            .clone()
    };
    wait_for("web:1 deployed", async || {
        (image().await.as_deref() == Some("registry.local/web:1")).then_some(())
    })
    .await;
    let d = deployments.get("web").await.expect("deployment");
    let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
    deployments
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("rollout");
    wait_for("web:1 known good", async || {
        projects
            .get("web")
            .await
            .ok()?
            .status?
            .last_known_good
            .map(|_| ())
    })
    .await;
    wait_for("the credential's first version", async || {
        credentials.get("db-password").await.ok()?.status?.version
    })
    .await;

    let catalogue = Catalogue::load_dir(&workspace_root().join("runbooks")).expect("runbooks");
    let mut values = Values::new();
    for (k, v) in [
        ("namespace", ns.as_str()),
        ("project", "web"),
        ("monitor", "web-health"),
        ("provider", "openai"),
        ("credential", "db-password"),
        ("webhook", "http://127.0.0.1:9/none"),
        ("incident.id", "00000000-0000-0000-0000-000000000000"),
        ("incident.title", "test"),
        ("incident.severity", "P2"),
    ] {
        values.insert(k.to_owned(), v.to_owned());
    }
    let mut exercised = Vec::new();
    let mut bad = 1;
    for r in catalogue.iter() {
        for step in &r.steps {
            let Action::Kube(action) = rendered(&step.action, &values).expect("rendered") else {
                continue;
            };
            let place = format!("{} step {}", r.meta.id, step.number);
            match &action {
                KubeAction::RollbackProject { project } => {
                    // A new image that is then rolled back.
                    bad += 1;
                    let next = format!("registry.local/web:{bad}");
                    projects
                        .patch(
                            project,
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"spec": {"image": next}})),
                        )
                        .await
                        .expect("new image");
                    wait_for(&format!("{next} deployed"), async || {
                        (image().await.as_deref() == Some(next.as_str())).then_some(())
                    })
                    .await;
                    let out = executor
                        .kube(&ns, &action, "tester")
                        .await
                        .unwrap_or_else(|e| panic!("{place}: {e}"));
                    assert_eq!(
                        out,
                        format!("Project web rolled back from {next} to registry.local/web:1"),
                        "{place}"
                    );
                    wait_for("web:1 again", async || {
                        (image().await.as_deref() == Some("registry.local/web:1")).then_some(())
                    })
                    .await;
                }
                KubeAction::RestartDeployment { deployment } => {
                    executor
                        .kube(&ns, &action, "tester")
                        .await
                        .unwrap_or_else(|e| panic!("{place}: {e}"));
                    let d = deployments.get(deployment).await.expect("deployment");
                    let annotations = d
                        .spec
                        .and_then(|s| s.template.metadata)
                        .and_then(|m| m.annotations)
                        .unwrap_or_default();
                    assert!(
                        annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
                        "{place}"
                    );
                }
                KubeAction::RotateCredential { credential } => {
                    let before = credentials
                        .get(credential)
                        .await
                        .expect("cred")
                        .status
                        .and_then(|s| s.version)
                        .unwrap_or(0);
                    let out = executor
                        .kube(&ns, &action, "tester")
                        .await
                        .unwrap_or_else(|e| panic!("{place}: {e}"));
                    let after = credentials
                        .get(credential)
                        .await
                        .expect("cred")
                        .status
                        .and_then(|s| s.version)
                        .unwrap_or(0);
                    assert_eq!(after, before + 1, "{place}: {out}");
                    assert_eq!(
                        out,
                        format!("Credential db-password rotated to version {after}")
                    );
                }
                KubeAction::FailoverProvider { provider } => {
                    executor
                        .kube(&ns, &action, "tester")
                        .await
                        .unwrap_or_else(|e| panic!("{place}: {e}"));
                    let p = providers.get(provider).await.expect("provider");
                    assert_eq!(
                        p.annotations()
                            .get(javari_crds::provider::FAILOVER_ANNOTATION)
                            .map(String::as_str),
                        Some("runbook/tester"),
                        "{place}"
                    );
                    // Put it back for the next runbook.
                    let restore = json!({"metadata": {"annotations": {javari_crds::provider::FAILOVER_ANNOTATION: null}}});
                    providers
                        .patch(provider, &PatchParams::default(), &Patch::Merge(&restore))
                        .await
                        .expect("restore");
                }
                other => panic!("{place}: add a check for {other:?}"),
            }
            exercised.push(place);
        }
    }
    assert_eq!(
        exercised,
        [
            "api-down step 4",
            "credential-compromise step 3",
            "failed-deployment step 2",
            "high-ai-cost step 5",
            "high-error-rate step 3",
            "provider-outage step 4",
        ]
    );
    // The operator's own annotation for a Monitor's failover is the same one.
    assert_eq!(
        javari_operator::monitors::FAILOVER_ANNOTATION,
        javari_crds::provider::FAILOVER_ANNOTATION
    );
    wait_for("a failed-over Provider probed as down", async || {
        let _ = executor
            .kube(
                &ns,
                &KubeAction::FailoverProvider {
                    provider: "openai".into(),
                },
                "tester",
            )
            .await;
        let status = providers.get("openai").await.ok()?.status?;
        (format!("{:?}", status.health) == "Down"
            && status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("runbook/tester")))
        .then_some(())
    })
    .await;

    // Scale through the Project that owns the Deployment; a bound on replicas.
    let out = executor
        .kube(
            &ns,
            &KubeAction::ScaleDeployment {
                deployment: "web".into(),
                replicas: "3".into(),
            },
            "tester",
        )
        .await
        .expect("scale");
    assert_eq!(out, "Project web scaled to 3 replicas");
    assert_eq!(projects.get("web").await.expect("project").spec.replicas, 3);
    let e = executor
        .kube(
            &ns,
            &KubeAction::ScaleDeployment {
                deployment: "web".into(),
                replicas: "1000".into(),
            },
            "tester",
        )
        .await
        .expect_err("bounded");
    assert!(e.contains("not 0 to 100"), "{e}");
    let e = executor
        .kube(
            &ns,
            &KubeAction::RollbackProject {
                project: "nope".into(),
            },
            "tester",
        )
        .await
        .expect_err("missing");
    assert!(e.ends_with("not found"), "{e}");

    // verify: holds while the target answers 200, names the failed condition otherwise.
    let state = async || {
        monitors
            .get("web-health")
            .await
            .ok()?
            .status
            .map(|s| s.state)
    };
    wait_for("the Monitor up", async || {
        (state().await == Some(MonitorState::Up)).then_some(())
    })
    .await;
    let ok = executor.verify(&ns, "web-health").await.expect("verify");
    assert!(ok.contains("1 condition(s) hold (200"), "{ok}");
    healthy.store(false, Ordering::SeqCst);
    let e = executor.verify(&ns, "web-health").await.expect_err("down");
    assert!(e.contains("[STATUS] == 200"), "{e}");
    healthy.store(true, Ordering::SeqCst);

    // Suspend and resume a Monitor.
    executor
        .kube(
            &ns,
            &KubeAction::SuspendMonitor {
                monitor: "web-health".into(),
            },
            "tester",
        )
        .await
        .expect("suspend");
    wait_for("the Monitor suspended", async || {
        (state().await == Some(MonitorState::Suspended)).then_some(())
    })
    .await;
    executor
        .kube(
            &ns,
            &KubeAction::ResumeMonitor {
                monitor: "web-health".into(),
            },
            "tester",
        )
        .await
        .expect("resume");
    assert!(
        !monitors
            .get("web-health")
            .await
            .expect("monitor")
            .spec
            .suspend
    );

    operator.stop().await;
}
