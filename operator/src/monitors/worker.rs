//! The results worker: one task owns all counters, so thresholds are applied in order, rows
//! are written in batches, and an outage opens one incident.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use javari_core::monitors::{CheckRow, Counters, Transition, insert_checks, step};
use javari_crds::monitor::MonitorStatus;
use tracing::warn;
use uuid::Uuid;

use super::incidents::{publish_transition, recovered, went_down};
use super::schedule::Outcome;
use super::status::write_status;
use crate::context::Context;

pub(super) struct Tracked {
    pub(super) counters: Counters,
    pub(super) incident: Option<Uuid>,
    pub(super) last_status: Option<std::time::Instant>,
    /// The status last written, so conditions keep their transition times.
    pub(super) status: MonitorStatus,
}

/// How often a Monitor's status figures are refreshed when nothing changes: every 5 s, or
/// slower with many Monitors so status writes stay under 20 a second.
fn status_every(monitors: usize) -> Duration {
    Duration::from_secs(5)
        .max(Duration::from_millis(50) * u32::try_from(monitors).unwrap_or(u32::MAX))
}

pub(super) async fn worker(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Outcome>) {
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut batch: Vec<CheckRow> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            outcome = rx.next() => {
                let Some(o) = outcome else { break };
                handle(&ctx, &mut tracked, &mut batch, o).await;
                if batch.len() >= 500 {
                    flush(&ctx, &mut batch).await;
                }
            }
            _ = tick.tick() => flush(&ctx, &mut batch).await,
        }
    }
    flush(&ctx, &mut batch).await;
}

async fn flush(ctx: &Context, batch: &mut Vec<CheckRow>) {
    if batch.is_empty() {
        return;
    }
    match insert_checks(ctx.vault.pool(), batch).await {
        Ok(n) => {
            ctx.metrics.checks.inc_by(n);
        }
        Err(e) => warn!(error = %e, rows = batch.len(), "could not store health checks"),
    }
    batch.clear();
}

async fn handle(
    ctx: &Context,
    tracked: &mut HashMap<String, Tracked>,
    batch: &mut Vec<CheckRow>,
    o: Outcome,
) {
    let plan = &o.plan;
    let key = plan.key();
    let tracked_len = tracked.len().max(1);
    let t = tracked.entry(key.clone()).or_insert_with(|| Tracked {
        counters: plan.initial,
        incident: plan
            .status
            .open_incident
            .as_deref()
            .and_then(|i| i.parse().ok()),
        last_status: None,
        status: plan.status.clone(),
    });
    let passed = o.verdict.is_ok();
    let (counters, transition) = step(
        t.counters,
        passed,
        plan.failure_threshold,
        plan.success_threshold,
    );
    t.counters = counters;
    batch.push(CheckRow {
        namespace: plan.namespace.clone(),
        monitor: plan.name.clone(),
        target: plan.target.clone(),
        passed,
        response_time_ms: o
            .result
            .status
            .map(|_| i32::try_from(o.result.response_time.as_millis()).unwrap_or(i32::MAX)),
        status_code: o.result.status.map(i32::from),
        error: o.verdict.clone().err(),
        checked_at: o.at,
    });
    if let Some(transition) = transition {
        flush(ctx, batch).await;
        publish_transition(ctx, plan, transition, o.verdict.as_ref().err()).await;
        let result = match transition {
            Transition::WentDown => {
                went_down(ctx, plan, o.verdict.clone().err().unwrap_or_default())
                    .await
                    .map(Some)
            }
            Transition::Recovered => recovered(ctx, plan).await.map(|_| None),
        };
        match result {
            Ok(incident) => t.incident = incident,
            Err(e) => warn!(error = %e, monitor = %key, "could not record the incident"),
        }
    }
    let every = status_every(tracked_len);
    let due = t.last_status.is_none_or(|at| at.elapsed() >= every);
    if transition.is_some() || due {
        flush(ctx, batch).await;
        t.last_status = Some(std::time::Instant::now());
        if let Err(e) = write_status(ctx, plan, t, &o).await {
            warn!(error = %e, monitor = %key, "could not write monitor status");
        }
    }
}
