//! What an outage does: an Event on each transition, one incident per outage with its
//! timeline, and the Monitor's actions (rollback, failover, webhook).

use std::time::Duration;

use javari_core::monitors::{Transition, add_timeline_event, open_incident, resolve_incident};
use javari_crds::common::Severity;
use javari_crds::project::ROLLBACK_ANNOTATION;
use javari_crds::{Monitor, Project, Provider};
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};
use uuid::Uuid;

use super::schedule::Plan;
use crate::context::{Context, MANAGER};

/// Annotation on a Provider that a failing Monitor has failed over.
pub const FAILOVER_ANNOTATION: &str = "javari.ai/failed-over-by";

pub(super) async fn publish_transition(
    ctx: &Context,
    plan: &Plan,
    transition: Transition,
    why: Option<&String>,
) {
    use kube::Resource;
    use kube::runtime::events::{Event, EventType};
    let (type_, reason, note) = match transition {
        Transition::WentDown => (
            EventType::Warning,
            "Down",
            format!(
                "{} failed checks: {}",
                plan.failure_threshold,
                why.cloned().unwrap_or_default()
            ),
        ),
        Transition::Recovered => (
            EventType::Normal,
            "Up",
            format!("{} checks passed", plan.success_threshold),
        ),
    };
    let Ok(monitor) = Api::<Monitor>::namespaced(ctx.client.clone(), &plan.namespace)
        .get(&plan.name)
        .await
    else {
        return;
    };
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Check".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &monitor.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

fn dedup_key(plan: &Plan) -> String {
    format!("monitor/{}/{}", plan.namespace, plan.name)
}

pub(super) async fn went_down(
    ctx: &Context,
    plan: &Plan,
    why: String,
) -> Result<Uuid, sqlx::Error> {
    let pool = ctx.vault.pool();
    let runbook = plan.actions.as_ref().and_then(|a| a.runbook.as_deref());
    let message = format!(
        "{} consecutive checks failed: {why}",
        plan.failure_threshold
    );
    let title = format!("{} is down", plan.project.as_deref().unwrap_or(&plan.name));
    let source = ("monitor", plan.namespace.as_str(), plan.name.as_str());
    let incident = open_incident(
        pool,
        &dedup_key(plan),
        &title,
        plan.severity,
        source,
        runbook,
        &message,
    )
    .await?;
    info!(monitor = %plan.name, %incident, "incident opened");
    ctx.metrics.incidents_opened.inc();
    let Some(actions) = &plan.actions else {
        return Ok(incident);
    };
    if actions.rollback
        && let Some(project) = &plan.project
    {
        let patch =
            json!({"metadata": {"annotations": {ROLLBACK_ANNOTATION: incident.to_string()}}});
        let api: Api<Project> = Api::namespaced(ctx.client.clone(), &plan.namespace);
        let note = match api
            .patch(project, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => format!("rollback of Project {project} requested"),
            Err(e) => format!("rollback of Project {project} failed: {e}"),
        };
        add_timeline_event(pool, incident, "action", &note, MANAGER).await?;
    }
    if let Some(provider) = &actions.failover_provider {
        let patch = json!({"metadata": {"annotations": {FAILOVER_ANNOTATION: format!("monitor/{}", plan.name)}}});
        let api: Api<Provider> = Api::namespaced(ctx.client.clone(), &plan.namespace);
        let note = match api
            .patch(
                &provider.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => format!("Provider {} marked down: routing skips it", provider.name),
            Err(e) => format!("failing over Provider {} failed: {e}", provider.name),
        };
        add_timeline_event(pool, incident, "action", &note, MANAGER).await?;
    }
    if let Some(url) = &actions.webhook {
        let note = notify(ctx, url, plan, AlertState::Down, Some(incident)).await;
        add_timeline_event(pool, incident, "webhook", &note, MANAGER).await?;
    }
    Ok(incident)
}

pub(super) async fn recovered(ctx: &Context, plan: &Plan) -> Result<(), sqlx::Error> {
    let pool = ctx.vault.pool();
    let resolution = format!("{} consecutive checks passed", plan.success_threshold);
    let Some(incident) = resolve_incident(pool, &dedup_key(plan), &resolution).await? else {
        return Ok(());
    };
    info!(monitor = %plan.name, %incident, "incident resolved");
    if let Some(actions) = &plan.actions {
        if let Some(provider) = &actions.failover_provider {
            let patch = json!({"metadata": {"annotations": {FAILOVER_ANNOTATION: null}}});
            let api: Api<Provider> = Api::namespaced(ctx.client.clone(), &plan.namespace);
            if let Err(e) = api
                .patch(
                    &provider.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                warn!(error = %e, "could not restore the provider");
            }
        }
        if let Some(url) = &actions.webhook {
            let note = notify(ctx, url, plan, AlertState::Resolved, Some(incident)).await;
            add_timeline_event(pool, incident, "webhook", &note, MANAGER).await?;
        }
    }
    Ok(())
}

/// What a Monitor's webhook says happened.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum AlertState {
    Down,
    Resolved,
}

/// The body POSTed to `spec.actions.webhook`.
#[derive(Serialize, Debug)]
struct Alert<'a> {
    monitor: &'a str,
    namespace: &'a str,
    state: AlertState,
    severity: Severity,
    incident: Option<Uuid>,
    target: &'a str,
}

/// POSTs the alert, retrying with back-off; returns what happened, for the timeline.
async fn notify(
    ctx: &Context,
    url: &str,
    plan: &Plan,
    state: AlertState,
    incident: Option<Uuid>,
) -> String {
    let body = Alert {
        monitor: &plan.name,
        namespace: &plan.namespace,
        state,
        severity: plan.severity,
        incident,
        target: &plan.target,
    };
    let mut last = String::new();
    for attempt in 1..=3u32 {
        match ctx
            .http
            .post(url)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                return format!(
                    "webhook delivered (HTTP {}, attempt {attempt})",
                    r.status().as_u16()
                );
            }
            Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
            Err(_) => last = "unreachable".to_owned(),
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
    }
    format!("webhook failed after 3 attempts: {last}")
}
