//! What the console needs to run runbooks and send incident notifications, built once: the
//! catalogue, the step executor (with the cluster client, if any), the HTTP client of `http`
//! and `notify` steps, and the incident webhook with a bound on notifications in flight.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::kube::KubeExecutor;
use super::run::Runner;
use crate::incidents::{EventKind, Notice, Webhook, notify, record};

/// Notifications being sent at once at most; beyond, one is recorded as not sent.
pub const MAX_NOTIFICATIONS_IN_FLIGHT: usize = 16;

pub struct Playbooks {
    pub catalogue: Catalogue,
    pub executor: KubeExecutor,
    pub http: reqwest::Client,
    pub webhook: Option<Webhook>,
    project_url: String,
    in_flight: Arc<Semaphore>,
}

impl Playbooks {
    pub fn new(
        catalogue: Catalogue,
        client: Option<kube::Client>,
        project_url: &str,
        webhook: Option<Webhook>,
    ) -> Self {
        Self {
            catalogue,
            executor: KubeExecutor::new(client, project_url),
            http: crate::http::client(),
            webhook,
            project_url: project_url.to_owned(),
            in_flight: Arc::new(Semaphore::new(MAX_NOTIFICATIONS_IN_FLIGHT)),
        }
    }

    /// The same, acting on the cluster through `client`.
    pub fn with_client(&self, client: kube::Client) -> Self {
        Self::new(
            self.catalogue.clone(),
            Some(client),
            &self.project_url,
            self.webhook.clone(),
        )
    }

    pub fn runner<'a>(&'a self, pool: &'a PgPool) -> Runner<'a, KubeExecutor> {
        Runner {
            pool,
            catalogue: &self.catalogue,
            http: &self.http,
            executor: &self.executor,
        }
    }

    /// Sends the notice in the background (when a webhook is configured); the result lands on
    /// the incident's timeline.
    pub fn notify(&self, pool: &PgPool, incident: Uuid, notice: Notice) {
        let Some(webhook) = self.webhook.clone() else {
            return;
        };
        let (pool, http) = (pool.clone(), self.http.clone());
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let message = format!(
                    "webhook for {}: not sent, {MAX_NOTIFICATIONS_IN_FLIGHT} notifications already in flight",
                    notice.as_str()
                );
                let _ = record(
                    &pool,
                    incident,
                    EventKind::Webhook,
                    &message,
                    "javari-notify",
                )
                .await;
            });
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = notify(&pool, &http, &webhook, incident, notice).await {
                tracing::warn!(error = %e, %incident, "incident notification not recorded");
            }
        });
    }
}
