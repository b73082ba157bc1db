//! The Credential controller end to end on a real kube-apiserver and a real PostgreSQL:
//! creation, rotate-now with a grace period, consumer restarts, idempotence across
//! reconciles and operator restarts, crash safety between every step, bad input.

use std::collections::BTreeMap;
use std::sync::Arc;

use javari_core::credentials::version_hash;
use javari_core::vault::{Keyring, MasterKey, Vault, recent_audit};
use javari_crds::Credential;
use javari_crds::credential::ROTATE_NOW_ANNOTATION;
use javari_operator::Context;
use javari_operator::credentials::{VERSION_ANNOTATION, annotation_key, reconcile};
use javari_operator::faults::Step;
use javari_testenv::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

mod support;

use support::{Harness, Running, wait_for, wait_for_reconciles};

struct Env(Harness);

impl std::ops::Deref for Env {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.0
    }
}

async fn env(keys: Keyring) -> Env {
    Env(Harness::with_keys(keys).await)
}

fn keys() -> Keyring {
    Keyring::new(MasterKey::generate(), vec![])
}

impl Env {
    /// Runs the controllers in this test's namespace until [`Running::stop`].
    async fn start_operator(&self) -> Running {
        self.start(|c| c).await
    }

    fn credentials(&self) -> Api<Credential> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn apply_credential(&self, name: &str, spec: serde_json::Value) -> Credential {
        let obj: Credential = serde_json::from_value(json!({
            "apiVersion": "javari.ai/v1alpha1", "kind": "Credential",
            "metadata": {"name": name, "namespace": self.ns}, "spec": spec
        }))
        .expect("credential json");
        self.credentials()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create credential")
    }

    async fn deployment(&self, name: &str) -> Deployment {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
            }
        }))
        .expect("deployment json");
        self.deployments()
            .create(&PostParams::default(), &d)
            .await
            .expect("create deployment")
    }

    async fn rotate_now(&self, name: &str, token: &str) {
        let patch = json!({"metadata": {"annotations": {ROTATE_NOW_ANNOTATION: token}}});
        self.credentials()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate");
    }

    async fn wait_for<T>(&self, what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
        wait_for(what, check).await
    }

    async fn status_version(&self, name: &str) -> Option<i64> {
        self.credentials().get(name).await.ok()?.status?.version
    }

    async fn secret_value(&self, name: &str, key: &str) -> Option<Vec<u8>> {
        self.secrets()
            .get_opt(name)
            .await
            .ok()??
            .data?
            .remove(key)
            .map(|b| b.0)
    }

    fn template_annotation(d: &Deployment, credential: &str) -> Option<String> {
        d.spec
            .as_ref()?
            .template
            .metadata
            .as_ref()?
            .annotations
            .as_ref()?
            .get(&annotation_key(credential))
            .cloned()
    }

    /// Drives single reconciles (no controller) until the status reports `version`.
    async fn reconcile_until_version(&self, ctx: &Arc<Context>, name: &str, version: i64) {
        for _ in 0..6 {
            let cred = self.credentials().get(name).await.expect("get");
            if cred.status.as_ref().and_then(|s| s.version) == Some(version) {
                return;
            }
            reconcile(Arc::new(cred), ctx.clone())
                .await
                .expect("reconcile");
        }
        panic!("{name} did not reach version {version}");
    }
}

fn generated(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"service": "postgres", "type": "databasePassword", "source": {"generate": {"length": 24}}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

#[tokio::test]
async fn create_rotate_now_restart_consumers_and_end_the_grace_period() {
    let env = env(keys()).await;
    env.deployment("web").await;
    env.deployment("worker").await;
    let project = json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project", "metadata": {"name": "web"},
        "spec": {"image": "nginx", "credentials": [{"env": "DB_PASSWORD", "credentialRef": {"name": "db"}}]}});
    let projects: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &kube::api::ApiResource::erase::<javari_crds::Project>(&()),
    );
    projects
        .create(
            &PostParams::default(),
            &serde_json::from_value(project).expect("project"),
        )
        .await
        .expect("create project");
    let cred = env
        .apply_credential(
            "db",
            generated(json!({"rotation": {"everyDays": 90, "gracePeriod": "4s"}, "rolloutRestartTargets": [{"name": "worker"}]})),
        )
        .await;
    let uid = cred.uid().expect("uid");
    let operator = env.start_operator().await;

    // Create: the Secret holds the generated value, the vault decrypts to it, audit says so.
    env.wait_for("version 1", async || {
        (env.status_version("db").await == Some(1)).then_some(())
    })
    .await;
    let v1 = env.secret_value("db", "value").await.expect("value");
    assert_eq!(v1.len(), 24);
    assert_eq!(env.secret_value("db", "previous").await, None);
    let stored = env
        .vault
        .get(&env.ns, "db")
        .await
        .expect("vault")
        .expect("row");
    assert_eq!(
        env.vault
            .read(&stored, 1, "test", "check")
            .await
            .expect("decrypt")
            .expose(),
        &v1[..]
    );
    let audit = recent_audit(env.vault.pool(), &env.ns, "db", 50)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "create" && a.version == Some(1) && a.actor == "javari-operator"),
        "{audit:?}"
    );

    let hash1 = version_hash(&uid, 1);
    let mut generations = BTreeMap::new();
    for name in ["web", "worker"] {
        let d = env.deployments().get(name).await.expect("deployment");
        assert_eq!(
            Env::template_annotation(&d, "db").as_deref(),
            Some(hash1.as_str()),
            "{name} carries version 1"
        );
        generations.insert(name, d.metadata.generation.expect("generation"));
    }

    // Rotate now: new value, previous kept, each consumer restarted exactly once.
    env.rotate_now("db", "r1").await;
    env.wait_for("version 2", async || {
        (env.status_version("db").await == Some(2)).then_some(())
    })
    .await;
    let v2 = env.secret_value("db", "value").await.expect("value");
    assert_ne!(v2, v1);
    assert_eq!(
        env.secret_value("db", "previous").await.as_deref(),
        Some(&v1[..])
    );
    let hash2 = version_hash(&uid, 2);
    for name in ["web", "worker"] {
        let d = env.deployments().get(name).await.expect("deployment");
        assert_eq!(
            Env::template_annotation(&d, "db").as_deref(),
            Some(hash2.as_str())
        );
        assert_eq!(
            d.metadata.generation,
            Some(generations[name] + 1),
            "{name}: one template change for one rotation"
        );
    }
    let status = env
        .credentials()
        .get("db")
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(
        status
            .restarts
            .iter()
            .any(|r| r.name == "worker" && r.hash == hash2 && r.result == "restarted")
    );
    assert_eq!(status.last_rotate_request.as_deref(), Some("r1"));
    assert!(status.grace_period_ends_at.is_some());
    let audit = recent_audit(env.vault.pool(), &env.ns, "db", 50)
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.action == "rotate"
        && a.version == Some(2)
        && a.reason.as_deref() == Some("rotate-now requested")));
    assert!(audit.iter().any(|a| a.action == "decrypt"));

    // After the grace period, `previous` is gone and the value stays.
    env.wait_for("previous removed", async || {
        env.secret_value("db", "previous")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        env.secret_value("db", "value").await.as_deref(),
        Some(&v2[..])
    );
    env.wait_for("grace period cleared in status", async || {
        env.credentials()
            .get("db")
            .await
            .ok()?
            .status?
            .grace_period_ends_at
            .is_none()
            .then_some(())
    })
    .await;
    for name in ["web", "worker"] {
        let d = env.deployments().get(name).await.expect("deployment");
        assert_eq!(
            d.metadata.generation,
            Some(generations[name] + 1),
            "ending the grace period restarts nothing"
        );
    }
    operator.stop().await;
}

#[tokio::test]
async fn a_cron_schedule_rotates_by_itself() {
    let env = env(keys()).await;
    // Every 3 seconds (six fields: seconds first), so the test sees two scheduled rotations.
    env.apply_credential(
        "ticking",
        generated(json!({"rotation": {"schedule": "*/3 * * * * *", "gracePeriod": "1s"}})),
    )
    .await;
    let operator = env.start_operator().await;
    env.wait_for("two scheduled rotations", async || {
        (env.status_version("ticking").await >= Some(3)).then_some(())
    })
    .await;
    let audit = recent_audit(env.vault.pool(), &env.ns, "ticking", 50)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "rotate" && a.reason.as_deref() == Some("scheduled rotation"))
    );
    let status = env
        .credentials()
        .get("ticking")
        .await
        .expect("get")
        .status
        .expect("status");
    let next = status.next_rotation_at.expect("next rotation in status");
    let last = status.last_rotated_at.expect("last rotation in status");
    assert!(next.0 > last.0, "the next rotation comes after the last");
    operator.stop().await;
}

#[tokio::test]
async fn reconciles_and_operator_restarts_change_nothing() {
    let env = env(keys()).await;
    env.deployment("api").await;
    env.apply_credential(
        "token",
        generated(json!({"rolloutRestartTargets": [{"name": "api"}]})),
    )
    .await;
    let operator = env.start_operator().await;
    let ctx = operator.ctx.clone();
    env.wait_for("version 1", async || {
        (env.status_version("token").await == Some(1)).then_some(())
    })
    .await;
    // The controller settles: the reconcile that wrote version 1 and the one its status write
    // and the owned Secret's event bring are over, and none is running.
    wait_for_reconciles(&ctx, "Credential", 1).await;

    let versions = async || {
        (
            env.secrets()
                .get("token")
                .await
                .expect("secret")
                .resource_version(),
            env.deployments()
                .get("api")
                .await
                .expect("deployment")
                .resource_version(),
            env.credentials()
                .get("token")
                .await
                .expect("credential")
                .resource_version(),
        )
    };
    let before = versions().await;
    for _ in 0..2 {
        let cred = env.credentials().get("token").await.expect("get");
        reconcile(Arc::new(cred), ctx.clone())
            .await
            .expect("reconcile");
    }
    assert_eq!(
        versions().await,
        before,
        "two more reconciles wrote nothing"
    );

    // A restarted operator (new context, same vault) finds everything current.
    operator.stop().await;
    let operator2 = env.start_operator().await;
    let ctx2 = operator2.ctx.clone();
    // Its first reconcile is over: anything it would roll out is written by then.
    wait_for_reconciles(&ctx2, "Credential", 0).await;
    assert_eq!(
        versions().await,
        before,
        "an operator restart rolls nothing out"
    );
    let audit = recent_audit(env.vault.pool(), &env.ns, "token", 50)
        .await
        .expect("audit");
    assert_eq!(audit.iter().filter(|a| a.action == "rotate").count(), 0);
    operator2.stop().await;
}

#[tokio::test]
async fn a_crash_after_any_rotation_step_loses_nothing() {
    let env = env(keys()).await;
    let (ctx, _wake) = env.context().await;
    for (i, step) in [
        Step::VaultWritten,
        Step::SecretWritten,
        Step::ConsumersRestarted,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("crash-{i}");
        let workload = format!("app-{i}");
        env.deployment(&workload).await;
        let cred = env
            .apply_credential(
                &name,
                generated(json!({"rolloutRestartTargets": [{"name": workload}]})),
            )
            .await;
        let uid = cred.uid().expect("uid");
        env.reconcile_until_version(&ctx, &name, 1).await;
        let v1 = env.secret_value(&name, "value").await.expect("v1");

        env.rotate_now(&name, "now").await;
        ctx.faults.fail_after(step);
        let cred = env.credentials().get(&name).await.expect("get");
        let crashed = reconcile(Arc::new(cred), ctx.clone()).await;
        assert!(crashed.is_err(), "{step:?}: the injected failure surfaces");

        // Whatever the Secret holds is in the vault, and the old value is still there.
        let secret = env.secrets().get(&name).await.expect("secret");
        let held: i32 = secret.annotations()[VERSION_ANNOTATION]
            .parse()
            .expect("version");
        let stored = env
            .vault
            .get(&env.ns, &name)
            .await
            .expect("vault")
            .expect("row");
        let in_vault = env
            .vault
            .read(&stored, held, "test", "check")
            .await
            .expect("Secret's version is in the vault");
        assert_eq!(
            Some(in_vault.expose().to_vec()),
            env.secret_value(&name, "value").await,
            "{step:?}"
        );
        assert_eq!(
            env.vault
                .read(&stored, 1, "test", "check")
                .await
                .expect("v1 kept")
                .expose(),
            &v1[..]
        );

        // Re-running finishes the interrupted rotation; it does not start another.
        env.reconcile_until_version(&ctx, &name, 2).await;
        let stored = env
            .vault
            .get(&env.ns, &name)
            .await
            .expect("vault")
            .expect("row");
        assert_eq!(stored.version, 2, "{step:?}: exactly one rotation");
        let v2 = env
            .vault
            .read(&stored, 2, "test", "check")
            .await
            .expect("v2");
        assert_eq!(
            env.secret_value(&name, "value").await.as_deref(),
            Some(v2.expose())
        );
        assert_eq!(
            env.secret_value(&name, "previous").await.as_deref(),
            Some(&v1[..])
        );
        let d = env.deployments().get(&workload).await.expect("deployment");
        assert_eq!(
            Env::template_annotation(&d, &name),
            Some(version_hash(&uid, 2)),
            "{step:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_source_secret_is_degraded_then_retried() {
    let env = env(keys()).await;
    env.apply_credential(
        "imported",
        json!({"service": "github", "type": "token", "source": {"secretRef": {"name": "github-source", "key": "token"}}}),
    )
    .await;
    let operator = env.start_operator().await;
    let status = env
        .wait_for("Degraded", async || {
            let s = env.credentials().get("imported").await.ok()?.status?;
            s.conditions
                .iter()
                .any(|c| c.type_ == "Degraded" && c.status == "True")
                .then_some(s)
        })
        .await;
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("condition");
    assert_eq!(degraded.reason, "SourceSecretMissing");
    assert!(
        degraded.message.contains("github-source"),
        "{}",
        degraded.message
    );
    assert!(status.failed_attempts >= 1);
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False")
    );

    let source: Secret = serde_json::from_value(json!({"metadata": {"name": "github-source", "annotations": {"javari.ai/credential": "imported"}}, "stringData": {"token": "ghp_imported_value"}}))
        .expect("secret");
    env.secrets()
        .create(&PostParams::default(), &source)
        .await
        .expect("create source");
    env.wait_for("imported", async || {
        (env.status_version("imported").await == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        env.secret_value("imported", "value").await.as_deref(),
        Some(&b"ghp_imported_value"[..])
    );
    let status = env
        .credentials()
        .get("imported")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.failed_attempts, 0);
    assert_eq!(status.last_error, None);
    let audit = recent_audit(env.vault.pool(), &env.ns, "imported", 10)
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.action == "import"));
    operator.stop().await;
}

#[tokio::test]
async fn external_credentials_wait_for_their_value() {
    let env = env(keys()).await;
    env.apply_credential(
        "openai",
        json!({"service": "openai", "source": {"external": {"owner": "platform-team"}}}),
    )
    .await;
    let (ctx, _wake) = env.context().await;
    let mut message = String::new();
    for _ in 0..3 {
        let cred = env.credentials().get("openai").await.expect("get");
        reconcile(Arc::new(cred), ctx.clone())
            .await
            .expect("reconcile");
        let status = env
            .credentials()
            .get("openai")
            .await
            .expect("get")
            .status
            .unwrap_or_default();
        if let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") {
            assert_eq!(ready.status, "False");
            assert_eq!(ready.reason, "WaitingForValue");
            message = ready.message.clone();
        }
    }
    assert!(message.contains("platform-team"), "{message}");
    assert!(
        env.secrets()
            .get_opt("openai")
            .await
            .expect("get")
            .is_none(),
        "no Secret without a value"
    );
}

/// The operator binary refuses a missing, malformed or wrong master key and changes nothing;
/// `rewrap` moves the vault to a new key.
#[tokio::test]
async fn master_key_checks_and_rewrap_through_the_binary() {
    let key_a = MasterKey::generate();
    let key_a_hex = key_a.to_hex().to_string();
    let env = env(Keyring::new(key_a, vec![])).await;
    let (ctx, _wake) = env.context().await;
    env.apply_credential("sealed", generated(json!({}))).await;
    env.reconcile_until_version(&ctx, "sealed", 1).await;
    let fingerprint = async || -> Vec<(String, i32)> {
        sqlx::query_as("SELECT key_id, version FROM javari_credential_snapshots ORDER BY version")
            .fetch_all(env.vault.pool())
            .await
            .expect("snapshots")
    };
    let before = fingerprint().await;

    let operator_with = |key: Option<&str>, old: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_javari-operator"));
        cmd.env("KUBECONFIG", ControlPlane::shared().kubeconfig())
            .env("DATABASE_URL", &env.runtime_url)
            .env("JAVARI_MIGRATE_DATABASE_URL", &env.database_url)
            .env("JAVARI_OPERATOR_LISTEN", "127.0.0.1:0")
            .env_remove("JAVARI_MASTER_KEY")
            .env_remove("JAVARI_MASTER_KEYS_OLD")
            .args(args);
        for (var, value) in [("JAVARI_MASTER_KEY", key), ("JAVARI_MASTER_KEYS_OLD", old)] {
            if let Some(value) = value {
                cmd.env(var, value);
            }
        }
        cmd.output().expect("run operator")
    };
    let operator = |key: Option<&str>, args: &[&str]| operator_with(key, None, args);
    let missing = operator(None, &[]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("JAVARI_MASTER_KEY is not set"), "{stderr}");

    let malformed = operator(Some("short-key-123"), &[]);
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert_eq!(malformed.status.code(), Some(3), "{stderr}");
    assert!(
        !stderr.contains("short-key-123"),
        "the key is never echoed: {stderr}"
    );

    let key_b = MasterKey::generate();
    let key_b_hex = key_b.to_hex().to_string();
    let wrong = operator(Some(&key_b_hex), &[]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("master key mismatch"), "{stderr}");
    assert!(!stderr.contains(&key_b_hex));
    assert_eq!(fingerprint().await, before, "a wrong key changes nothing");

    // Rewrap under B with A retired, then read with B alone.
    let out = operator_with(
        Some(&key_b_hex),
        Some(&key_a_hex),
        &["rewrap", "--batch-size", "1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rewrapped 1 versions and 1 credentials"),
        "{stdout}"
    );
    let only_b = Vault::new(
        env.vault.pool().clone(),
        Arc::new(Keyring::new(
            MasterKey::parse("K", &key_b_hex).expect("b"),
            vec![],
        )),
    );
    only_b.verify_keys().await.expect("every row is under B");
    let stored = only_b
        .get(&env.ns, "sealed")
        .await
        .expect("get")
        .expect("row");
    let value = only_b
        .read(&stored, 1, "test", "after rewrap")
        .await
        .expect("readable under B");
    assert_eq!(
        Some(value.expose().to_vec()),
        env.secret_value("sealed", "value").await
    );
}
