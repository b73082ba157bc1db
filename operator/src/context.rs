//! What every reconcile gets: clients, the vault, metrics, timers and fault injection.

use std::sync::Arc;

use javari_core::vault::Vault;
use javari_crds::Credential;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::timer::Timer;

pub struct Context {
    pub client: Client,
    pub vault: Vault,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub credential_timer: Arc<Timer<Credential>>,
    pub faults: Faults,
    /// Watch only this namespace (all when `None`).
    pub namespace: Option<String>,
    /// For probes and checks of external endpoints.
    pub http: reqwest::Client,
    /// Base URL of the GitHub API.
    pub github_api: String,
    /// Where a Monitor with a `projectRef` sends its checks: `{name}`, `{namespace}` and
    /// `{path}` (the Project's health path) are filled in.
    pub project_url: String,
    /// Where BackupPolicies store and stage backups, and the platform's own database.
    pub backups: crate::backups::Settings,
    /// Reconciles one controller runs at once. Each in-flight reconcile holds its own
    /// connection to the apiserver (TLS and HTTP buffers, ~100 KiB), so this bounds memory:
    /// unbounded, 1,000 new Projects opened 1,000 connections.
    pub reconcile_concurrency: u16,
}

/// Default of [`Context::reconcile_concurrency`] (`JAVARI_RECONCILE_CONCURRENCY`).
pub const DEFAULT_RECONCILE_CONCURRENCY: u16 = 16;

/// In-cluster address of a Project's Service.
pub const DEFAULT_PROJECT_URL: &str = "http://{name}.{namespace}.svc.cluster.local{path}";

/// The name written to audit rows, Events and field managers.
pub const MANAGER: &str = "javari-operator";

impl Context {
    pub fn new(
        client: Client,
        vault: Vault,
        metrics: Arc<Metrics>,
        credential_timer: Arc<Timer<Credential>>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            vault,
            metrics,
            credential_timer,
            faults: Faults::default(),
            namespace: None,
            http: javari_core::http::client(),
            github_api: javari_core::github::DEFAULT_API_URL.to_owned(),
            project_url: DEFAULT_PROJECT_URL.to_owned(),
            backups: crate::backups::Settings::default(),
            reconcile_concurrency: DEFAULT_RECONCILE_CONCURRENCY,
        }
    }

    /// Restricts the controllers to one namespace.
    pub fn watching(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }

    /// Talks to this GitHub API (GitHub Enterprise, or a test server).
    pub fn with_github_api(mut self, url: String) -> Self {
        self.github_api = url;
        self
    }

    /// Backup settings (directory, platform database, concurrency).
    pub fn with_backups(mut self, settings: crate::backups::Settings) -> Self {
        self.backups = settings;
        self
    }

    /// Runs at most `n` reconciles of each controller at once (at least one).
    pub fn with_reconcile_concurrency(mut self, n: u16) -> Self {
        self.reconcile_concurrency = n.max(1);
        self
    }

    /// Sends Project checks to this URL template instead of the in-cluster Service.
    pub fn with_project_url(mut self, template: String) -> Self {
        self.project_url = template;
        self
    }

    /// An API for `K` over the watched namespace(s).
    pub fn watched_api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.namespace {
            Some(ns) => kube::Api::namespaced(self.client.clone(), ns),
            None => kube::Api::all(self.client.clone()),
        }
    }
}
