use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use javari_core::conditions::{Desired, set};
use javari_core::providers::{
    ProbeOutcome, StoredModel, probe, record_probe, remove_provider, sync_provider,
};
use javari_core::time::{from_k8s, to_k8s};
use javari_core::vault::SecretValue;
use javari_crds::Provider;
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::duration::parse_duration;
use javari_crds::provider::{ProviderApi, ProviderHealth, ProviderStatus};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::Error;
use crate::context::Context;
use crate::driver::Steps;
use crate::secrets::Unavailable;

/// Finalizer that removes the Provider's row from `javari_providers` before the object goes,
/// so the console never routes to a deleted Provider.
pub const FINALIZER: &str = "javari.ai/provider";

/// The Provider controller's steps for the driver.
pub struct Providers(pub Arc<Context>);

impl Steps for Providers {
    type Kind = Provider;
    type Error = Error;
    const FINALIZER: &'static str = FINALIZER;
    const RETRY: Duration = Duration::from_secs(15);

    fn context(&self) -> &Context {
        &self.0
    }

    async fn apply(&self, provider: Arc<Provider>) -> Result<Action, Error> {
        apply(provider, &self.0).await
    }

    async fn cleanup(&self, provider: Arc<Provider>) -> Result<Action, Error> {
        cleanup(&provider, &self.0).await
    }
}

async fn cleanup(provider: &Provider, ctx: &Context) -> Result<Action, Error> {
    let ns = provider.namespace().unwrap_or_default();
    if remove_provider(ctx.vault.pool(), &ns, &provider.name_any()).await? {
        info!("provider removed from the routing table");
    }
    Ok(Action::await_change())
}

async fn apply(provider: Arc<Provider>, ctx: &Context) -> Result<Action, Error> {
    {
        let spec = &provider.spec;
        // The CRD refuses intervals under 1s and timeouts not below the interval; the floor is
        // kept here too for objects stored before those rules, so a probe never loops.
        let interval = parse_duration(&spec.probe.interval)?.max(Duration::from_secs(1));
        let timeout = parse_duration(&spec.probe.timeout)?.min(interval);
        let prev = provider.status.clone().unwrap_or_default();
        let now = Utc::now();
        let generation = provider.metadata.generation;
        if let Some(last) = prev.last_probe_at.as_ref().map(from_k8s)
            && prev.observed_generation == generation
        {
            let due = last + chrono::TimeDelta::from_std(interval).unwrap_or_default();
            if due > now {
                return Ok(Action::requeue((due - now).to_std().unwrap_or(interval)));
            }
        }

        let failed_over = provider
            .annotations()
            .get(crate::monitors::FAILOVER_ANNOTATION)
            .cloned();
        let mut missing_credential = None;
        let outcome = if let Some(by) = failed_over {
            ProbeOutcome {
                health: ProviderHealth::Down,
                latency_ms: None,
                error: Some(format!("failed over by {by}")),
            }
        } else {
            match credential_value(ctx, &provider).await? {
                Ok(key) => probe(&ctx.http, spec.api, &spec.endpoint, key.as_ref(), timeout).await,
                Err(why) => {
                    if let Unavailable::CredentialNotFound(name) = &why {
                        missing_credential = Some(name.clone());
                    }
                    ProbeOutcome {
                        health: ProviderHealth::Down,
                        latency_ms: None,
                        error: Some(why.to_string()),
                    }
                }
            }
        };
        let failures = if outcome.health == ProviderHealth::Operational {
            0
        } else {
            prev.consecutive_failures.saturating_add(1)
        };
        let id = sync(ctx, &provider).await?;
        record_probe(ctx.vault.pool(), id, &outcome, failures, now).await?;
        ctx.metrics.probes.inc();

        if prev.health != outcome.health {
            info!(from = ?prev.health, to = ?outcome.health, "provider health changed");
            let type_ = match outcome.health {
                ProviderHealth::Operational => EventType::Normal,
                _ => EventType::Warning,
            };
            let reason = outcome.health.as_str();
            let note = outcome
                .error
                .clone()
                .unwrap_or_else(|| "probe succeeded".to_owned());
            let event = Event {
                type_,
                reason: reason.to_owned(),
                note: Some(note),
                action: "Probe".to_owned(),
                secondary: None,
            };
            if let Err(e) = ctx
                .recorder
                .publish(&event, &provider.object_ref(&()))
                .await
            {
                warn!(error = %e, "could not publish event");
            }
        }
        let status = status(&prev, generation, &outcome, failures, now);
        // Always written: every probe moves lastProbeAt.
        crate::report::write_status(ctx, provider.as_ref(), false, &prev, &status).await?;
        if let Some(name) = missing_credential {
            return Err(Error::CredentialNotFound { name });
        }
        Ok(Action::requeue(interval))
    }
}

fn status(
    prev: &ProviderStatus,
    generation: Option<i64>,
    outcome: &ProbeOutcome,
    failures: i32,
    now: chrono::DateTime<Utc>,
) -> ProviderStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    s.health = outcome.health;
    s.latency_ms = outcome.latency_ms;
    s.last_probe_at = Some(to_k8s(now));
    s.consecutive_failures = failures;
    s.last_error = outcome.error.clone();
    let usable = matches!(
        outcome.health,
        ProviderHealth::Operational | ProviderHealth::Degraded
    );
    let message = outcome.error.clone().unwrap_or_default();
    set(
        &mut s.conditions,
        Desired::new(READY, usable, outcome.health.as_str(), message.clone()),
        generation,
        now,
    );
    let degraded = outcome.health != ProviderHealth::Operational;
    set(
        &mut s.conditions,
        Desired::new(DEGRADED, degraded, outcome.health.as_str(), message),
        generation,
        now,
    );
    s
}

/// The API key, or why there is none.
async fn credential_value(
    ctx: &Context,
    provider: &Provider,
) -> Result<Result<Option<SecretValue>, Unavailable>, Error> {
    let Some(reference) = &provider.spec.credential_ref else {
        return Ok(Ok(None));
    };
    let ns = provider.namespace().unwrap_or_default();
    Ok(crate::secrets::credential_value(ctx, &ns, reference)
        .await?
        .map(Some))
}

async fn sync(ctx: &Context, provider: &Provider) -> Result<uuid::Uuid, Error> {
    let spec = &provider.spec;
    let models: Vec<StoredModel<'_>> = spec
        .models
        .iter()
        .map(|m| StoredModel {
            name: &m.name,
            input_cost_per_1k: m.input_cost_per1k,
            output_cost_per_1k: m.output_cost_per1k,
            capabilities: m.capabilities.iter().map(|c| c.db_text()).collect(),
            context_window: m.context_window.and_then(|c| i32::try_from(c).ok()),
        })
        .collect();
    let api = match spec.api {
        ProviderApi::Openai => "openai",
        ProviderApi::Anthropic => "anthropic",
        ProviderApi::Gemini => "gemini",
        ProviderApi::OpenaiCompatible => "openai-compatible",
    };
    Ok(sync_provider(
        ctx.vault.pool(),
        &provider.namespace().unwrap_or_default(),
        &provider.name_any(),
        api,
        &spec.endpoint,
        spec.credential_ref.as_ref().map(|c| c.name.as_str()),
        spec.priority,
        spec.enabled,
        spec.rate_limit.as_ref().map(|r| r.requests_per_minute),
        &models,
    )
    .await?)
}
