//! The real [`StepExecutor`]: `kube` steps become the annotations and fields the operator
//! already honours, and `verify` runs the Monitor's check once, now, against its conditions.
//!
//! Nothing outside [`KubeAction`]'s allow-list reaches the API. Rollbacks and rotations wait
//! until the operator says it acted on this very request (its status echoes the annotation
//! value), so a step passes only when the change happened.

use std::time::Duration;

use chrono::Utc;
use javari_crds::credential::ROTATE_NOW_ANNOTATION;
use javari_crds::duration::parse_duration;
use javari_crds::monitor::HttpMethod as CheckMethod;
use javari_crds::project::ROLLBACK_ANNOTATION;
use javari_crds::provider::FAILOVER_ANNOTATION;
use javari_crds::{Credential, Monitor, Project, Provider};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::model::KubeAction;
use super::steps::StepExecutor;
use crate::monitors::{CheckResult, evaluate_all, parse};

/// Field manager of the console's changes.
const MANAGER: &str = "javari-runbook";
/// Largest replica count a `scale-deployment` step may ask for (a Project's CRD bound).
pub const MAX_REPLICAS: u32 = 100;
/// Most bytes of a verify check's body kept for `[BODY]` conditions.
const VERIFY_BODY_LIMIT: usize = 256 * 1024;
/// How often a step looks whether the operator acted on its request.
const POLL: Duration = Duration::from_millis(250);
/// Where Monitors with a projectRef send checks, as the operator's default.
pub const DEFAULT_PROJECT_URL: &str = "http://{name}.{namespace}.svc.cluster.local{path}";

pub struct KubeExecutor {
    /// `None`: the console runs without a cluster, and `kube`/`verify` steps say so.
    client: Option<kube::Client>,
    verifying: reqwest::Client,
    insecure: reqwest::Client,
    project_url: String,
}

impl KubeExecutor {
    /// `project_url` as the operator's `JAVARI_PROJECT_URL_TEMPLATE` ({name}, {namespace},
    /// {path}), so a verify step checks what the Monitor checks.
    pub fn new(client: Option<kube::Client>, project_url: &str) -> Self {
        crate::http::install_crypto_provider();
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("javari-runbook/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .tls_danger_accept_invalid_certs(insecure)
                .build()
                .unwrap_or_default()
        };
        Self {
            client,
            verifying: build(false),
            insecure: build(true),
            project_url: project_url.to_owned(),
        }
    }

    fn api<K>(&self, namespace: &str) -> Result<Api<K>, String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        match &self.client {
            Some(c) => Ok(Api::namespaced(c.clone(), namespace)),
            None => Err(
                "no Kubernetes API: the console runs without a cluster (JAVARI_KUBE)".to_owned(),
            ),
        }
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

impl KubeExecutor {
    /// The Project a Monitor checks (its `projectRef`), to fill a runbook's `project`.
    pub async fn monitor_project(&self, namespace: &str, monitor: &str) -> Option<String> {
        let m = self
            .api::<Monitor>(namespace)
            .ok()?
            .get(monitor)
            .await
            .ok()?;
        m.spec.project_ref.map(|r| r.name)
    }
}

/// A request token: new for every step run, echoed by the operator once acted on.
fn token(actor: &str) -> String {
    format!(
        "runbook/{actor}/{}",
        Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
    )
}

fn annotate(key: &str, value: &str) -> serde_json::Value {
    json!({"metadata": {"annotations": {key: value}}})
}

/// A kube error as the step's output: what was asked and why it failed.
fn failed(what: &str, e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 404 => format!("{what}: not found"),
        kube::Error::Api(s) => format!("{what}: {} ({})", s.message, s.code),
        other => format!("{what}: {other}"),
    }
}

impl KubeExecutor {
    async fn rollback(&self, ns: &str, project: &str, actor: &str) -> Result<String, String> {
        let api = self.api::<Project>(ns)?;
        let what = format!("roll back Project {ns}/{project}");
        let token = token(actor);
        api.patch(
            project,
            &params(),
            &Patch::Merge(&annotate(ROLLBACK_ANNOTATION, &token)),
        )
        .await
        .map_err(|e| failed(&what, e))?;
        loop {
            let status = api
                .get(project)
                .await
                .map_err(|e| failed(&what, e))?
                .status
                .unwrap_or_default();
            if status.last_rollback_request.as_deref() == Some(token.as_str()) {
                return match status
                    .rollbacks
                    .iter()
                    .rev()
                    .find(|r| r.reason.contains(&token))
                {
                    Some(r) => Ok(format!(
                        "Project {project} rolled back from {} to {}",
                        r.from.image, r.to.image
                    )),
                    None => Err(format!("{what}: no other known good revision to return to")),
                };
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn rotate(&self, ns: &str, credential: &str, actor: &str) -> Result<String, String> {
        let api = self.api::<Credential>(ns)?;
        let what = format!("rotate Credential {ns}/{credential}");
        let token = token(actor);
        api.patch(
            credential,
            &params(),
            &Patch::Merge(&annotate(ROTATE_NOW_ANNOTATION, &token)),
        )
        .await
        .map_err(|e| failed(&what, e))?;
        loop {
            let status = api
                .get(credential)
                .await
                .map_err(|e| failed(&what, e))?
                .status
                .unwrap_or_default();
            if status.last_rotate_request.as_deref() == Some(token.as_str()) {
                let version = status
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".to_owned());
                return Ok(format!(
                    "Credential {credential} rotated to version {version}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn restart(&self, ns: &str, deployment: &str) -> Result<String, String> {
        let what = format!("restart Deployment {ns}/{deployment}");
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": Utc::now().to_rfc3339()
        }}}}});
        self.api::<Deployment>(ns)?
            .patch(deployment, &params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| failed(&what, e))?;
        Ok(format!(
            "Deployment {deployment} restarting (rollout restart)"
        ))
    }

    /// A Project's Deployment is scaled through the Project (the operator would put the
    /// Deployment back otherwise); any other Deployment directly.
    async fn scale(&self, ns: &str, deployment: &str, replicas: &str) -> Result<String, String> {
        let what = format!("scale Deployment {ns}/{deployment}");
        let replicas: u32 = replicas
            .trim()
            .parse()
            .ok()
            .filter(|r| *r <= MAX_REPLICAS)
            .ok_or_else(|| format!("{what}: replicas {replicas:?} is not 0 to {MAX_REPLICAS}"))?;
        let found = self
            .api::<Deployment>(ns)?
            .get(deployment)
            .await
            .map_err(|e| failed(&what, e))?;
        let project = found
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.kind == "Project" && o.api_version.starts_with("javari.ai/"));
        let patch = json!({"spec": {"replicas": replicas}});
        match project {
            Some(owner) => {
                self.api::<Project>(ns)?
                    .patch(&owner.name, &params(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| failed(&what, e))?;
                Ok(format!(
                    "Project {} scaled to {replicas} replicas",
                    owner.name
                ))
            }
            None => {
                self.api::<Deployment>(ns)?
                    .patch(deployment, &params(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| failed(&what, e))?;
                Ok(format!(
                    "Deployment {deployment} scaled to {replicas} replicas"
                ))
            }
        }
    }

    async fn suspend(&self, ns: &str, monitor: &str, suspend: bool) -> Result<String, String> {
        let verb = if suspend { "suspend" } else { "resume" };
        let what = format!("{verb} Monitor {ns}/{monitor}");
        self.api::<Monitor>(ns)?
            .patch(
                monitor,
                &params(),
                &Patch::Merge(&json!({"spec": {"suspend": suspend}})),
            )
            .await
            .map_err(|e| failed(&what, e))?;
        Ok(format!("Monitor {monitor} {verb}ed"))
    }

    async fn failover(&self, ns: &str, provider: &str, actor: &str) -> Result<String, String> {
        let what = format!("fail over Provider {ns}/{provider}");
        let by = format!("runbook/{actor}");
        self.api::<Provider>(ns)?
            .patch(
                provider,
                &params(),
                &Patch::Merge(&annotate(FAILOVER_ANNOTATION, &by)),
            )
            .await
            .map_err(|e| failed(&what, e))?;
        Ok(format!(
            "Provider {provider} marked down: chat routes around it"
        ))
    }

    async fn check(&self, ns: &str, name: &str) -> Result<String, String> {
        let what = format!("Monitor {ns}/{name}");
        let monitor = self
            .api::<Monitor>(ns)?
            .get(name)
            .await
            .map_err(|e| failed(&what, e))?;
        let spec = &monitor.spec;
        let conditions = spec
            .conditions
            .iter()
            .map(|c| parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{what}: {e}"))?;
        let url = match (&spec.url, &spec.project_ref) {
            (Some(url), _) => url.clone(),
            (None, Some(project)) => {
                let p = self
                    .api::<Project>(ns)?
                    .get(&project.name)
                    .await
                    .map_err(|e| failed(&format!("Project {}", project.name), e))?;
                self.project_url
                    .replace("{name}", &project.name)
                    .replace("{namespace}", ns)
                    .replace("{path}", &p.spec.health_path)
            }
            (None, None) => return Err(format!("{what} has neither url nor projectRef")),
        };
        let timeout = parse_duration(&spec.request.timeout).unwrap_or(Duration::from_secs(10));
        let result = self.request(&url, &spec.request, timeout).await;
        evaluate_all(&conditions, &result).map_err(|e| format!("{what}: {e}"))?;
        Ok(format!(
            "{what}: {} condition(s) hold ({}, {} ms)",
            conditions.len(),
            result
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no status".to_owned()),
            result.response_time.as_millis()
        ))
    }

    async fn request(
        &self,
        url: &str,
        request: &javari_crds::monitor::CheckRequest,
        timeout: Duration,
    ) -> CheckResult {
        let http = if request.insecure_skip_verify {
            &self.insecure
        } else {
            &self.verifying
        };
        let method = match request.method {
            CheckMethod::Get => reqwest::Method::GET,
            CheckMethod::Head => reqwest::Method::HEAD,
            CheckMethod::Post => reqwest::Method::POST,
        };
        let mut builder = http.request(method, url).timeout(timeout);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let started = std::time::Instant::now();
        match builder.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut body = Vec::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    let room = VERIFY_BODY_LIMIT - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= VERIFY_BODY_LIMIT {
                        break;
                    }
                }
                CheckResult {
                    status: Some(status),
                    response_time: started.elapsed(),
                    body: Some(String::from_utf8_lossy(&body).into_owned()),
                    certificate_expires_in: None,
                    error: None,
                }
            }
            Err(e) => CheckResult {
                response_time: started.elapsed(),
                error: Some(if e.is_timeout() {
                    format!("no answer within {} ms", timeout.as_millis())
                } else {
                    "connection refused or unreachable".to_owned()
                }),
                ..Default::default()
            },
        }
    }
}

impl StepExecutor for KubeExecutor {
    async fn kube(
        &self,
        namespace: &str,
        action: &KubeAction,
        actor: &str,
    ) -> Result<String, String> {
        if namespace.is_empty() {
            return Err("a kube step needs the run's namespace".to_owned());
        }
        match action {
            KubeAction::RollbackProject { project } => {
                self.rollback(namespace, project, actor).await
            }
            KubeAction::RestartDeployment { deployment } => {
                self.restart(namespace, deployment).await
            }
            KubeAction::ScaleDeployment {
                deployment,
                replicas,
            } => self.scale(namespace, deployment, replicas).await,
            KubeAction::RotateCredential { credential } => {
                self.rotate(namespace, credential, actor).await
            }
            KubeAction::SuspendMonitor { monitor } => self.suspend(namespace, monitor, true).await,
            KubeAction::ResumeMonitor { monitor } => self.suspend(namespace, monitor, false).await,
            KubeAction::FailoverProvider { provider } => {
                self.failover(namespace, provider, actor).await
            }
        }
    }

    async fn verify(&self, namespace: &str, monitor: &str) -> Result<String, String> {
        self.check(namespace, monitor).await
    }
}
