//! A Monitor's status from its checks: state, counters, uptime windows, latency percentiles
//! and the Ready/Degraded conditions, written through the shared status writer.

use chrono::{TimeDelta, Utc};
use javari_core::conditions::{Desired, set};
use javari_core::monitors::{latency_stats, uptime_windows};
use javari_core::time::to_k8s;
use javari_crds::Monitor;
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::monitor::{LatencyPercentiles, MonitorState, Uptime};

use super::schedule::{Outcome, Plan};
use super::worker::Tracked;
use crate::context::Context;

/// Why a Monitor's status could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

fn percent(v: Option<f64>) -> Option<String> {
    v.map(|p| format!("{p:.2}"))
}

pub(super) async fn write_status(
    ctx: &Context,
    plan: &Plan,
    t: &mut Tracked,
    o: &Outcome,
) -> Result<(), StatusError> {
    let pool = ctx.vault.pool();
    let (ns, name) = (&plan.namespace, &plan.name);
    let uptime = uptime_windows(pool, ns, name).await?;
    let latency = latency_stats(pool, ns, name, TimeDelta::hours(24)).await?;
    let mut s = t.status.clone();
    s.observed_generation = plan.generation;
    s.state = t.counters.state.unwrap_or_default();
    s.consecutive_failures = t.counters.consecutive_failures;
    s.consecutive_successes = t.counters.consecutive_successes;
    s.last_check_at = Some(to_k8s(o.at));
    s.last_error = o.verdict.clone().err();
    s.uptime = Uptime {
        last1h: percent(uptime.last_1h),
        last24h: percent(uptime.last_24h),
        last7d: percent(uptime.last_7d),
        last30d: percent(uptime.last_30d),
    };
    s.latency = latency.map(|l| LatencyPercentiles {
        p50_ms: l.p50_ms,
        p95_ms: l.p95_ms,
        p99_ms: l.p99_ms,
    });
    s.open_incident = t.incident.map(|i| i.to_string());
    let now = Utc::now();
    let up = s.state == MonitorState::Up;
    let message = s.last_error.clone().unwrap_or_default();
    set(
        &mut s.conditions,
        Desired::new(READY, up, &format!("{:?}", s.state), message.clone()),
        plan.generation,
        now,
    );
    let down = s.state == MonitorState::Down;
    set(
        &mut s.conditions,
        Desired::new(DEGRADED, down, &format!("{:?}", s.state), message),
        plan.generation,
        now,
    );
    crate::report::apply_status::<Monitor, _>(ctx, ns, name, &s).await?;
    t.status = s;
    Ok(())
}
