//! The Project controller on a real kube-apiserver: the example Project becomes a Deployment
//! and Service with the commit from (fake) GitHub, edits flow through, deletion leaves no
//! orphans, and a rollback returns to the last known good image exactly once and never to a
//! bad one. No controller-manager runs, so tests play its part by writing Deployment status.

use std::time::Duration;

use javari_core::vault::{NewCredential, SecretValue};
use javari_crds::Project;
use javari_crds::common::Health;
use javari_crds::project::ROLLBACK_ANNOTATION;
use javari_testenv::{FakeGitHub, workspace_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

mod support;

use support::{Harness, Running};

struct Env {
    h: Harness,
    operator: Running,
}

impl std::ops::Deref for Env {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Env {
    async fn start(github: Option<&FakeGitHub>) -> Env {
        let h = Harness::new().await;
        let github = github.map(FakeGitHub::url);
        let operator = h
            .start(|c| match github {
                Some(url) => c.with_github_api(url),
                None => c,
            })
            .await;
        Env { h, operator }
    }

    async fn stop(self) {
        self.operator.stop().await;
    }

    fn projects(&self) -> Api<Project> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn wait<T>(&self, what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
        support::wait_for(what, check).await
    }

    async fn image(&self, name: &str) -> Option<String> {
        let d = self.deployments().get_opt(name).await.ok()??;
        d.spec?.template.spec?.containers.first()?.image.clone()
    }

    /// Plays the controller-manager: the Deployment's current generation is fully rolled out.
    async fn finish_rollout(&self, name: &str) {
        let d = self.deployments().get(name).await.expect("deployment");
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}});
        self.deployments()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("deployment status");
    }

    async fn health(&self, name: &str) -> Option<Health> {
        Some(self.projects().get(name).await.ok()?.status?.health)
    }

    async fn set_image(&self, name: &str, image: &str) {
        let patch = json!({"spec": {"image": image}});
        self.projects()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("edit");
    }

    async fn request_rollback(&self, name: &str, token: &str) {
        let patch = json!({"metadata": {"annotations": {ROLLBACK_ANNOTATION: token}}});
        self.projects()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate");
    }
}

fn example(file: &str, ns: &str) -> Vec<DynamicObject> {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(workspace_root().join("examples").join(file)).expect("example");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let mut obj = DynamicObject::deserialize(doc).expect("manifest");
            obj.metadata.namespace = Some(ns.to_owned());
            obj
        })
        .collect()
}

async fn apply_example(env: &Env, file: &str) {
    for obj in example(file, &env.ns) {
        let types = obj.types.clone().expect("types");
        let gvk = kube::core::GroupVersionKind::try_from(&types).expect("gvk");
        let (resource, _) = kube::discovery::pinned_kind(&env.client, &gvk)
            .await
            .expect("kind");
        let api: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), &env.ns, &resource);
        api.patch(
            &obj.name_any(),
            &PatchParams::apply("test").force(),
            &Patch::Apply(&obj),
        )
        .await
        .expect("apply");
    }
}

#[tokio::test]
async fn the_example_project_is_deployed_edited_and_deleted_without_orphans() {
    javari_core::http::install_crypto_provider();
    let github = FakeGitHub::start("ghp_test_token")
        .await
        .expect("fake GitHub");
    github.set_head("CR-AudioViz-AI/crav-javari", "abc123def456");
    let env = Env::start(Some(&github)).await;
    apply_example(&env, "credentials.yaml").await;
    // The GitHub token is an external Credential: set its value as the console would.
    let new = NewCredential {
        namespace: &env.ns,
        name: "github-token",
        service: "github",
        credential_type: "token",
        source: "external",
    };
    env.vault
        .create(
            new,
            &SecretValue::from("ghp_test_token".to_owned()),
            "console:admin",
            "set from the console",
        )
        .await
        .expect("set token");
    apply_example(&env, "project.yaml").await;

    let image = "ghcr.io/cr-audioviz-ai/crav-javari:abc123def456";
    env.wait("the Deployment with the branch head", async || {
        (env.image("javari-web").await.as_deref() == Some(image)).then_some(())
    })
    .await;
    let d = env
        .deployments()
        .get("javari-web")
        .await
        .expect("deployment");
    assert_eq!(d.owner_references()[0].kind, "Project");
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let c = &spec.template.spec.as_ref().expect("pod").containers[0];
    assert_eq!(c.ports.as_ref().expect("ports")[0].container_port, 3000);
    let env_vars = c.env.as_ref().expect("env");
    let openai = env_vars
        .iter()
        .find(|e| e.name == "OPENAI_API_KEY")
        .expect("OPENAI_API_KEY");
    let secret = openai
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("from a Secret");
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("openai-api-key", "value")
    );
    assert!(
        env_vars
            .iter()
            .any(|e| e.name == "NODE_ENV" && e.value.as_deref() == Some("production"))
    );
    let services: Api<Service> = Api::namespaced(env.client.clone(), &env.ns);
    // The Service is applied right after the Deployment: wait for it rather than race it.
    let svc = env
        .wait("the Service", async || {
            services.get_opt("javari-web").await.ok().flatten()
        })
        .await;
    assert_eq!(svc.spec.and_then(|s| s.ports).expect("ports")[0].port, 80);
    // Status is written after the Deployment and Service: wait for it too.
    let status = env
        .wait("the deployed commit in status", async || {
            env.projects()
                .get("javari-web")
                .await
                .ok()
                .and_then(|p| p.status)
                .filter(|s| s.deployed_commit.is_some())
        })
        .await;
    assert_eq!(status.deployed_commit.as_deref(), Some("abc123def456"));
    assert_eq!(status.health, Health::Progressing);

    // The rollout finishes: Healthy, last known good recorded, GitHub told.
    env.finish_rollout("javari-web").await;
    env.wait("Healthy", async || {
        (env.health("javari-web").await == Some(Health::Healthy)).then_some(())
    })
    .await;
    let status = env
        .projects()
        .get("javari-web")
        .await
        .expect("project")
        .status
        .expect("status");
    assert_eq!(
        status.last_known_good.map(|g| g.image).as_deref(),
        Some(image)
    );
    env.wait("a GitHub deployment status", async || {
        github
            .statuses()
            .contains(&(
                "CR-AudioViz-AI/crav-javari".into(),
                "abc123def456".into(),
                "success".into(),
            ))
            .then_some(())
    })
    .await;
    let row: (String, Option<String>) = sqlx::query_as("SELECT health, deployed_image FROM javari_projects WHERE namespace = $1 AND name = 'javari-web'")
        .bind(&env.ns)
        .fetch_one(env.vault.pool())
        .await
        .expect("projects row");
    assert_eq!(row, ("Healthy".into(), Some(image.into())));

    // A resync writes nothing.
    let rv = env
        .deployments()
        .get("javari-web")
        .await
        .expect("d")
        .resource_version();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.deployments()
            .get("javari-web")
            .await
            .expect("d")
            .resource_version(),
        rv
    );

    // Edits flow through; a new commit deploys a new image.
    env.projects()
        .patch(
            "javari-web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("edit");
    env.wait("3 replicas", async || {
        (env.deployments()
            .get("javari-web")
            .await
            .ok()?
            .spec?
            .replicas
            == Some(3))
        .then_some(())
    })
    .await;

    // Deleting the Project deletes its children (no garbage collector runs here).
    env.projects()
        .delete("javari-web", &Default::default())
        .await
        .expect("delete");
    env.wait("children gone", async || {
        let d = env.deployments().get_opt("javari-web").await.ok()?;
        let s = services.get_opt("javari-web").await.ok()?;
        let p = env.projects().get_opt("javari-web").await.ok()?;
        (d.is_none() && s.is_none() && p.is_none()).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn a_rollback_returns_to_the_last_known_good_image_once_and_never_to_a_bad_one() {
    let env = Env::start(None).await;
    let project: Project = serde_json::from_value(json!({"apiVersion": "javari.ai/v1alpha1", "kind": "Project",
        "metadata": {"name": "api"}, "spec": {"image": "registry.local/api:1", "port": 8080, "healthPath": "/healthz"}}))
    .expect("project");
    env.projects()
        .create(&PostParams::default(), &project)
        .await
        .expect("create");
    env.wait("api:1 deployed", async || {
        (env.image("api").await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    env.finish_rollout("api").await;
    env.wait("api:1 known good", async || {
        let s = env.projects().get("api").await.ok()?.status?;
        (s.last_known_good?.image == "registry.local/api:1").then_some(())
    })
    .await;

    // A new image goes out and fails.
    env.set_image("api", "registry.local/api:2").await;
    env.wait("api:2 deployed", async || {
        (env.image("api").await.as_deref() == Some("registry.local/api:2")).then_some(())
    })
    .await;
    env.request_rollback("api", "incident-1").await;
    env.wait("back on api:1", async || {
        (env.image("api").await.as_deref() == Some("registry.local/api:1")).then_some(())
    })
    .await;
    // The status is written after the Deployment: wait for it to record the rollback.
    let status = env
        .wait("the rollback recorded in status", async || {
            let s = env.projects().get("api").await.ok()?.status?;
            (!s.rollbacks.is_empty()).then_some(s)
        })
        .await;
    assert_eq!(status.known_bad_images, ["registry.local/api:2"]);
    assert_eq!(status.rollbacks.len(), 1);
    assert_eq!(status.rollbacks[0].to.image, "registry.local/api:1");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "ImageMarkedBad")
    );

    // Another request while already on the known good image changes nothing, and the bad
    // image (still in the spec) is never deployed again.
    env.request_rollback("api", "incident-2").await;
    env.wait("second request handled", async || {
        (env.projects()
            .get("api")
            .await
            .ok()?
            .status?
            .last_rollback_request
            .as_deref()
            == Some("incident-2"))
        .then_some(())
    })
    .await;
    env.finish_rollout("api").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.image("api").await.as_deref(),
        Some("registry.local/api:1")
    );
    let status = env
        .projects()
        .get("api")
        .await
        .expect("project")
        .status
        .expect("status");
    assert_eq!(status.rollbacks.len(), 1, "exactly one rollback");
    let healed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_auto_healing_incidents h JOIN javari_projects p ON p.id = h.project_id \
         WHERE p.namespace = $1 AND p.name = 'api' AND h.code_before = 'registry.local/api:2' AND h.code_after = 'registry.local/api:1'",
    )
    .bind(&env.ns)
    .fetch_one(env.vault.pool())
    .await
    .expect("auto-healing rows");
    assert_eq!(healed, 1);

    // A new image in the spec is tried.
    env.set_image("api", "registry.local/api:3").await;
    env.wait("api:3 deployed", async || {
        (env.image("api").await.as_deref() == Some("registry.local/api:3")).then_some(())
    })
    .await;
    env.stop().await;
}
