//! The Helm chart lints, and `helm install` against a real kube-apiserver creates the
//! operator and console with their RBAC (no controller-manager runs, so no pods start).

use javari_testenv::{ControlPlane, run_tool, workspace_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;

#[tokio::test]
async fn chart_lints_and_installs() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let chart = workspace_root().join("charts/javari");

    let required = [
        "--set",
        "database.existingSecret=javari-db",
        "--set",
        "operator.masterKeySecret=javari-master-key",
    ];
    run_tool(
        cp.helm()
            .arg("lint")
            .arg(&chart)
            .arg("--strict")
            .args(required),
    );

    // A missing database Secret name is refused with a message that says what to set.
    let refused = cp
        .helm()
        .arg("template")
        .arg("x")
        .arg(&chart)
        .args(["--kube-version", "1.34.0"])
        .output()
        .expect("helm");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("database.existingSecret is required")
    );

    // Runbooks of one's own come from a ConfigMap mounted beside the built-in ones.
    let rendered = cp
        .helm()
        .arg("template")
        .arg("x")
        .arg(&chart)
        .args(["--kube-version", "1.34.0"])
        .args(required)
        .args(["--set", "console.runbooksConfigMap=team-runbooks"])
        .output()
        .expect("helm");
    let rendered = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.contains("JAVARI_RUNBOOKS_DIR")
            && rendered.contains("configMap: {name: team-runbooks}"),
        "{rendered}"
    );

    let release = format!("javari-{ns}");
    run_tool(
        cp.helm()
            .args(["install", &release])
            .arg(&chart)
            .args(["--namespace", &ns, "--wait=false"])
            .args(required),
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for component in ["operator", "console"] {
        let d = deployments
            .get(&format!("{release}-{component}"))
            .await
            .expect("deployment created");
        let pod = d.spec.expect("spec").template.spec.expect("pod spec");
        let container = &pod.containers[0];
        assert!(
            container
                .image
                .as_deref()
                .is_some_and(|i| i.contains(&format!("javari-{component}:0.1.0")))
        );
        let env = container.env.as_ref().expect("env");
        let db = env
            .iter()
            .find(|e| e.name == "DATABASE_URL")
            .expect("DATABASE_URL");
        assert!(
            db.value.is_none(),
            "the database URL comes from a Secret, never inline"
        );
        if component == "operator" {
            let key = env
                .iter()
                .find(|e| e.name == "JAVARI_MASTER_KEY")
                .expect("master key");
            assert!(
                key.value.is_none(),
                "the master key comes from a Secret, never inline"
            );
        }
        assert!(container.readiness_probe.is_some() && container.liveness_probe.is_some());
    }
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get(&format!("{release}-console"))
        .await
        .expect("service");
    assert_eq!(
        service.spec.and_then(|s| s.ports).map(|p| p[0].port),
        Some(80)
    );
    let role = Api::<ClusterRole>::all(client)
        .get(&format!("{release}-operator"))
        .await
        .expect("cluster role");
    let rules = role.rules.expect("rules");
    assert!(rules.iter().any(|r| {
        r.resources
            .as_ref()
            .is_some_and(|res| res.iter().any(|x| x == "credentials/status"))
    }));
}
