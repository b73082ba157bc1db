//! Operating the chart: `helm install` with the Prometheus Operator's kinds present creates a
//! ServiceMonitor and a PrometheusRule whose alerts use metrics the operator really exports and
//! link runbooks that exist; PodDisruptionBudgets and a restricted securityContext come with
//! it; `values.schema.json` refuses values of the wrong type.

use javari_operator::metrics::Metrics;
use javari_testenv::{ControlPlane, run_tool, tool_output, workspace_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

const REQUIRED: [&str; 4] = [
    "--set",
    "database.existingSecret=javari-db",
    "--set",
    "operator.masterKeySecret=javari-master-key",
];
const MONITORING: [&str; 4] = [
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
];

fn monitoring_api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

/// Every `javari_operator_*` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("javari_operator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn chart_brings_monitoring_alerts_budgets_and_a_schema() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let chart = workspace_root().join("charts/javari");

    run_tool(
        cp.helm()
            .arg("lint")
            .arg(&chart)
            .arg("--strict")
            .args(REQUIRED)
            .args(MONITORING),
    );

    // Values of the wrong type are refused before anything is rendered, naming the value.
    for (value, field) in [
        ("operator.replicas=two", "replicas"),
        ("metrics.serviceMonitor.enabled=maybe", "enabled"),
        ("console.service.port=99999", "port"),
        ("log.format=xml", "format"),
    ] {
        let (ok, text) = tool_output(
            cp.helm()
                .args(["template", "x"])
                .arg(&chart)
                .args(REQUIRED)
                .args(["--set", value]),
        );
        assert!(!ok, "{value} was accepted:\n{text}");
        assert!(
            text.contains("values don't meet the specifications of the schema")
                && text.contains(field),
            "{value}: {text}"
        );
    }

    let kubectl = |args: &[&str]| run_tool(cp.kubectl().args(args));
    let crds = workspace_root().join("testenv/crds/monitoring.coreos.com.yaml");
    kubectl(&["apply", "-f", &crds.display().to_string()]);
    kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
    ]);

    let release = format!("ops-{ns}");
    run_tool(
        cp.helm()
            .args(["install", &release])
            .arg(&chart)
            .args(["--namespace", &ns, "--wait=false"])
            .args(REQUIRED)
            .args(MONITORING),
    );

    let sm = monitoring_api(&client, &ns, "ServiceMonitor")
        .get(&format!("{release}-operator"))
        .await
        .expect("ServiceMonitor created");
    let endpoint = &sm.data["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "http");
    assert_eq!(endpoint["path"], "/metrics");

    let rule = monitoring_api(&client, &ns, "PrometheusRule")
        .get(&format!("{release}-operator"))
        .await
        .expect("PrometheusRule created");
    let rules = rule.data["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .clone();
    let alerts: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    assert_eq!(
        alerts,
        [
            "JavariReconcileFailing",
            "JavariOperatorNoLeader",
            "JavariCredentialRotationFailing",
            "JavariCredentialExpiringSoon"
        ]
    );

    // The metrics the alerts read are the ones the operator exports.
    let metrics = Metrics::new();
    metrics.failure("Credential", "SourceSecretMissing");
    metrics.set_credential_expiry("ns", "db-password", Some(1));
    let exported = javari_core::telemetry::render_metrics(&metrics.registry);
    for r in &rules {
        let expr = r["expr"].as_str().expect("expr");
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{expr} reads no Javari metric");
        for name in names {
            assert!(
                exported.contains(&format!("\n{name}")),
                "{} reads {name}, which the operator does not export",
                r["alert"]
            );
        }
        assert!(
            expr.contains(&format!("job=\"{release}-operator-metrics\"")),
            "{expr} is not scoped to this release's operator"
        );
        let severity = r["labels"]["severity"].as_str().expect("severity");
        assert!(["warning", "critical"].contains(&severity));
        // Each alert links a runbook that exists, whose front matter carries the same id.
        let url = r["annotations"]["runbook_url"]
            .as_str()
            .expect("runbook_url");
        let file = url.rsplit('/').next().expect("file name");
        let path = workspace_root().join("runbooks").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{url}: {} missing: {e}", path.display()));
        let id = file.trim_end_matches(".md");
        assert!(
            text.starts_with("---\n") && text.contains(&format!("\nid: {id}\n")),
            "{} has no front matter with id {id}",
            path.display()
        );
        assert!(
            r["annotations"]["summary"].is_string() && r["annotations"]["description"].is_string()
        );
    }

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for component in ["operator", "console"] {
        let pdb = pdbs
            .get(&format!("{release}-{component}"))
            .await
            .expect("PodDisruptionBudget");
        let spec = pdb.spec.expect("pdb spec");
        assert!(spec.max_unavailable.is_some());
        let selector = spec
            .selector
            .and_then(|s| s.match_labels)
            .expect("selector");
        assert_eq!(
            selector
                .get("app.kubernetes.io/component")
                .map(String::as_str),
            Some(component)
        );

        let pod = deployments
            .get(&format!("{release}-{component}"))
            .await
            .expect("deployment")
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        let pod_sc = pod.security_context.expect("pod securityContext");
        assert_eq!(pod_sc.run_as_non_root, Some(true));
        assert_eq!(
            pod_sc.seccomp_profile.map(|p| p.type_),
            Some("RuntimeDefault".to_owned())
        );
        let sc = pod.containers[0]
            .security_context
            .clone()
            .expect("container securityContext");
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
    }
}
