//! Least privilege: the chart's RBAC, applied to a real kube-apiserver, is enough for
//! `javari-operator` running under its ServiceAccount's token (from the TokenRequest API)
//! to reconcile every kind end to end; `kubectl auth can-i --list` shows exactly the verbs
//! the code uses, and the console's ServiceAccount exactly what its pages and actions use.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use javari_crds::{Credential, Monitor, Project, Provider};
use javari_testenv::{ControlPlane, FakeProvider, free_port, fresh_database, workspace_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const KEY: &str = "sk-rbac-0123456789";

fn output(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (build the tools with `make bins`)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `(resource, verbs)` rows of `kubectl auth can-i --list` for `user` in `ns`.
fn can_i(cp: &ControlPlane, user: &str, ns: &str) -> BTreeSet<(String, String)> {
    let text = output(
        cp.kubectl()
            .args(["auth", "can-i", "--list", "--as", user, "-n", ns]),
    );
    text.lines()
        .skip(1)
        .filter_map(|line| {
            // Resources, Non-Resource URLs, Resource Names, Verbs; columns split by 2+ spaces.
            let cols: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let resource = cols.first()?.to_string();
            let verbs = cols.last()?.to_string();
            Some((resource, verbs))
        })
        .collect()
}

/// What `user` may do beyond what any authenticated user may (discovery, self reviews).
fn granted(cp: &ControlPlane, user: &str, ns: &str, nobody: &str) -> BTreeSet<(String, String)> {
    let baseline = can_i(cp, nobody, ns);
    can_i(cp, user, ns).difference(&baseline).cloned().collect()
}

fn rows(expected: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    expected
        .iter()
        .map(|(r, v)| ((*r).to_owned(), (*v).to_owned()))
        .collect()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<T>(
    what: &str,
    log: &std::path::Path,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}; operator log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_operator_reconciles_under_its_chart_service_account_and_can_do_no_more() {
    javari_core::http::install_crypto_provider();
    let cp = ControlPlane::shared();
    let admin = cp.client().await.expect("client");
    let release_ns = cp.test_namespace(&admin).await.expect("namespace");
    let apps = cp.test_namespace(&admin).await.expect("namespace");
    let release = "jv";

    // The chart's RBAC, rendered by helm and applied as the cluster admin.
    let rendered = output(
        cp.helm()
            .args(["template", release, "--kube-version", "1.34.0"])
            .arg(workspace_root().join("charts/javari"))
            .args([
                "--namespace",
                &release_ns,
                "--show-only",
                "templates/rbac.yaml",
            ])
            .args([
                "--set",
                "database.existingSecret=db",
                "--set",
                "operator.masterKeySecret=mk",
            ]),
    );
    let manifest = cp.dir().join(format!("rbac-{release_ns}.yaml"));
    std::fs::write(&manifest, &rendered).expect("write manifest");
    output(cp.kubectl().arg("apply").arg("-f").arg(&manifest));

    // A token for the operator's ServiceAccount from the TokenRequest API.
    let token = output(cp.kubectl().args([
        "create",
        "token",
        &format!("{release}-operator"),
        "-n",
        &release_ns,
        "--duration",
        "1h",
    ]));
    let kubeconfig = cp
        .kubeconfig_for_token(&format!("operator-{release_ns}"), token.trim())
        .expect("kubeconfig");

    // What the operator reconciles: a Credential imported from an opted-in Secret, a
    // Provider using it, a Project with it in its env, and a Monitor of the Provider's URL.
    let fake = FakeProvider::start(KEY).await.expect("fake provider");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &apps);
    let source = serde_json::from_value(json!({"metadata": {"name": "ai-source",
        "annotations": {"javari.ai/credential": "ai-key"}}, "stringData": {"key": KEY}}))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &source)
        .await
        .expect("secret");
    let create = |kind: &str, name: &str, spec: serde_json::Value| json!({"apiVersion": "javari.ai/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec});
    let credentials: Api<Credential> = Api::namespaced(admin.clone(), &apps);
    credentials
        .create(
            &PostParams::default(),
            &serde_json::from_value(create(
                "Credential",
                "ai-key",
                json!({"service": "ai", "source": {"secretRef": {"name": "ai-source", "key": "key"}}}),
            ))
            .expect("credential"),
        )
        .await
        .expect("credential");
    let providers: Api<Provider> = Api::namespaced(admin.clone(), &apps);
    providers
        .create(
            &PostParams::default(),
            &serde_json::from_value(create(
                "Provider",
                "openai",
                json!({"api": "openai", "endpoint": format!("{}/openai/v1", fake.url()),
                       "credentialRef": {"name": "ai-key"}, "probe": {"interval": "2s", "timeout": "1s"},
                       "models": [{"name": "gpt-4o-mini", "inputCostPer1k": 0.00015, "outputCostPer1k": 0.0006}]}),
            ))
            .expect("provider"),
        )
        .await
        .expect("provider");
    let projects: Api<Project> = Api::namespaced(admin.clone(), &apps);
    projects
        .create(
            &PostParams::default(),
            &serde_json::from_value(create(
                "Project",
                "web",
                json!({"image": "nginx:1.27", "replicas": 1, "port": 80, "healthPath": "/",
                       "credentials": [{"env": "AI_KEY", "credentialRef": {"name": "ai-key"}}]}),
            ))
            .expect("project"),
        )
        .await
        .expect("project");
    let monitors: Api<Monitor> = Api::namespaced(admin.clone(), &apps);
    monitors
        .create(
            &PostParams::default(),
            &serde_json::from_value(create(
                "Monitor",
                "fake",
                json!({"url": format!("{}/openai/v1/models", fake.url()), "interval": "2s",
                       "request": {"timeout": "1s"}, "conditions": ["[STATUS] == 401"]}),
            ))
            .expect("monitor"),
        )
        .await
        .expect("monitor");

    let database_url = fresh_database().await.expect("database");
    let runtime_url = javari_testenv::runtime_url(&database_url)
        .await
        .expect("runtime role");
    let log = cp.dir().join(format!("operator-{release_ns}.log"));
    let log_file = std::fs::File::create(&log).expect("log");
    let port = free_port().expect("port");
    let _operator = Running(
        Command::new(env!("CARGO_BIN_EXE_javari-operator"))
            .env("KUBECONFIG", &kubeconfig)
            .env("DATABASE_URL", &runtime_url)
            .env("JAVARI_MIGRATE_DATABASE_URL", &database_url)
            .env("JAVARI_OPERATOR_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "JAVARI_MASTER_KEY",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            )
            .env("POD_NAMESPACE", &release_ns)
            .env("POD_NAME", "operator-0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("start javari-operator"),
    );

    // The full reconcile, every kind.
    wait_for(
        "the leader Lease in the release namespace",
        &log,
        async || {
            Api::<Lease>::namespaced(admin.clone(), &release_ns)
                .list(&Default::default())
                .await
                .ok()?
                .items
                .first()
                .cloned()
        },
    )
    .await;
    wait_for("the Credential materialized", &log, async || {
        let c = credentials.get("ai-key").await.ok()?;
        c.status?.version?;
        secrets.get_opt("ai-key").await.ok()?
    })
    .await;
    wait_for("the Provider operational", &log, async || {
        let s = providers.get("openai").await.ok()?.status?;
        (s.health == javari_crds::provider::ProviderHealth::Operational).then_some(())
    })
    .await;
    wait_for("the Project's Deployment and Service", &log, async || {
        let p = projects.get("web").await.ok()?;
        p.status?.observed_generation?;
        Api::<Deployment>::namespaced(admin.clone(), &apps)
            .get_opt("web")
            .await
            .ok()??;
        Api::<Service>::namespaced(admin.clone(), &apps)
            .get_opt("web")
            .await
            .ok()?
    })
    .await;
    wait_for("the Monitor checked", &log, async || {
        let s = monitors.get("fake").await.ok()?.status?;
        s.last_check_at.map(|_| ())
    })
    .await;
    // Deletion runs the finalizers under the same token.
    providers
        .delete("openai", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the Provider's finalizer done", &log, async || {
        providers
            .get_opt("openai")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains("Forbidden") && !text.contains("forbidden"),
        "the operator was refused something it uses:\n{text}"
    );

    // Exactly what the code uses, and nothing more.
    let nobody = format!("system:serviceaccount:{release_ns}:nobody");
    let operator = format!("system:serviceaccount:{release_ns}:{release}-operator");
    let cluster_wide = [
        ("credentials.javari.ai", "[get list watch patch]"),
        ("monitors.javari.ai", "[get list watch patch]"),
        ("projects.javari.ai", "[get list watch patch]"),
        ("providers.javari.ai", "[get list watch patch]"),
        ("backuppolicies.javari.ai", "[get list watch patch]"),
        ("credentials.javari.ai/status", "[patch]"),
        ("monitors.javari.ai/status", "[patch]"),
        ("projects.javari.ai/status", "[patch]"),
        ("providers.javari.ai/status", "[patch]"),
        ("backuppolicies.javari.ai/status", "[patch]"),
        ("credentials.javari.ai/finalizers", "[update]"),
        ("projects.javari.ai/finalizers", "[update]"),
        ("customresourcedefinitions.apiextensions.k8s.io", "[get]"),
        ("deployments.apps", "[get list watch create patch delete]"),
        ("services", "[get list watch create patch delete]"),
        ("secrets", "[get list watch create patch delete]"),
        ("daemonsets.apps", "[get patch]"),
        ("statefulsets.apps", "[get patch]"),
        ("events.events.k8s.io", "[create patch]"),
    ];
    let mut in_release = cluster_wide.to_vec();
    in_release.push(("leases.coordination.k8s.io", "[get create update]"));
    assert_eq!(
        granted(cp, &operator, &release_ns, &nobody),
        rows(&in_release),
        "operator in its release namespace"
    );
    assert_eq!(
        granted(cp, &operator, &apps, &nobody),
        rows(&cluster_wide),
        "operator elsewhere: no Leases"
    );
    // The console: its pages and actions (console/tests/platform.rs runs them under this
    // ServiceAccount's token); of Secrets only `get` (a BackupPolicy's database connection
    // for the schema pages), never list or watch.
    let console = format!("system:serviceaccount:{release_ns}:{release}-console");
    let console_verbs = [
        ("credentials.javari.ai", "[get list watch patch]"),
        ("monitors.javari.ai", "[get list watch patch]"),
        ("projects.javari.ai", "[get list watch patch]"),
        ("providers.javari.ai", "[get list watch patch]"),
        ("backuppolicies.javari.ai", "[get list patch]"),
        ("secrets", "[get]"),
        ("deployments.apps", "[get patch]"),
        ("events", "[list]"),
        ("events.events.k8s.io", "[create patch]"),
    ];
    for ns in [&release_ns, &apps] {
        assert_eq!(
            granted(cp, &console, ns, &nobody),
            rows(&console_verbs),
            "the console reads and acts on the Javari kinds, and nothing else"
        );
    }
}
