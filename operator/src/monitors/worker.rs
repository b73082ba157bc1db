//! Scheduling and the results worker. Each Monitor has one tokio-cron-scheduler job; a tick
//! runs a check and sends the outcome here. One worker owns all counters, so thresholds are
//! applied in order, rows are written in batches, and an outage opens one incident.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use javari_core::conditions::{Desired, set};
use javari_core::monitors::{
    CheckResult, CheckRow, Condition, Counters, Transition, add_timeline_event, evaluate_all,
    insert_checks, latency_stats, open_incident, resolve_incident, step, uptime,
};
use javari_core::time::to_k8s;
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::monitor::{
    CheckRequest, LatencyPercentiles, MonitorActions, MonitorState, MonitorStatus, Uptime,
};
use javari_crds::project::ROLLBACK_ANNOTATION;
use javari_crds::{GROUP, Monitor, Project, Provider, VERSION};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{info, warn};
use uuid::Uuid;

pub use javari_core::monitors::Every;

use super::check::{Clients, run_check};
use crate::context::{Context, MANAGER};

/// Annotation on a Provider that a failing Monitor has failed over.
pub const FAILOVER_ANNOTATION: &str = "javari.ai/failed-over-by";

/// Everything a check and its aftermath need, fixed at reconcile time.
pub struct Plan {
    pub namespace: String,
    pub name: String,
    pub target: String,
    pub request: CheckRequest,
    pub timeout: Duration,
    pub conditions: Vec<Condition>,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    pub severity: String,
    pub actions: Option<MonitorActions>,
    pub project: Option<String>,
    pub initial: Counters,
    pub status: MonitorStatus,
    pub generation: Option<i64>,
}

impl Plan {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

pub struct Outcome {
    pub plan: Arc<Plan>,
    pub result: CheckResult,
    pub verdict: Result<(), String>,
    pub at: DateTime<Utc>,
}

/// The one running check of a Monitor; released when dropped (the check ended, failed or was
/// cancelled).
struct InFlight(Arc<AtomicBool>);

impl InFlight {
    fn take(running: &Arc<AtomicBool>) -> Option<InFlight> {
        running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| InFlight(running.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub struct Runner {
    scheduler: JobScheduler,
    metrics: Arc<crate::metrics::Metrics>,
    jobs: Mutex<HashMap<String, (Option<i64>, Uuid)>>,
    plans: Arc<RwLock<HashMap<String, Arc<Plan>>>>,
    tx: mpsc::UnboundedSender<Outcome>,
    clients: Clients,
}

impl Runner {
    pub async fn start(ctx: Arc<Context>) -> Result<Arc<Runner>, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        scheduler.start().await?;
        let (tx, rx) = mpsc::unbounded();
        tokio::spawn(worker(ctx.clone(), rx));
        Ok(Arc::new(Runner {
            scheduler,
            metrics: ctx.metrics.clone(),
            jobs: Mutex::default(),
            plans: Arc::default(),
            tx,
            clients: Clients::new(),
        }))
    }

    /// Checks `plan` on `every`; a new generation replaces the job, the same one only the plan.
    pub async fn schedule(&self, plan: Plan, every: Every) -> Result<(), JobSchedulerError> {
        let key = plan.key();
        let generation = plan.generation;
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), Arc::new(plan));
        let mut jobs = self.jobs.lock().await;
        if jobs.get(&key).is_some_and(|(g, _)| *g == generation) {
            return Ok(());
        }
        if let Some((_, old)) = jobs.remove(&key) {
            let _ = self.scheduler.remove(&old).await;
        }
        let (plans, tx, clients, job_key, metrics) = (
            self.plans.clone(),
            self.tx.clone(),
            self.clients.clone(),
            key.clone(),
            self.metrics.clone(),
        );
        // At most one check of this Monitor at a time: a tick that finds the last check still
        // running is skipped and counted, so slow targets never pile checks up.
        let running = Arc::new(AtomicBool::new(false));
        let tick = move |_: Uuid, _: JobScheduler| {
            let plan = plans
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&job_key)
                .cloned();
            let (tx, clients) = (tx.clone(), clients.clone());
            let slot = InFlight::take(&running);
            if slot.is_none() {
                metrics.checks_skipped.inc();
            }
            Box::pin(async move {
                let Some(_slot) = slot else { return };
                let Some(plan) = plan else { return };
                let at = Utc::now();
                let result = run_check(&clients, &plan.target, &plan.request, plan.timeout).await;
                let verdict = evaluate_all(&plan.conditions, &result);
                let _ = tx.unbounded_send(Outcome {
                    plan,
                    result,
                    verdict,
                    at,
                });
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        let job = match every {
            Every::Interval(d) => Job::new_repeated_async(d, tick)?,
            Every::Cron(cron) => Job::new_async(cron.as_str(), tick)?,
        };
        let id = self.scheduler.add(job).await?;
        jobs.insert(key, (generation, id));
        Ok(())
    }

    pub async fn unschedule(&self, namespace: &str, name: &str) {
        let key = format!("{namespace}/{name}");
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some((_, id)) = self.jobs.lock().await.remove(&key) {
            let _ = self.scheduler.remove(&id).await;
        }
    }
}

struct Tracked {
    counters: Counters,
    incident: Option<Uuid>,
    last_status: Option<std::time::Instant>,
    /// The status last written, so conditions keep their transition times.
    status: MonitorStatus,
}

/// How often a Monitor's status figures are refreshed when nothing changes: every 5 s, or
/// slower with many Monitors so status writes stay under 20 a second.
fn status_every(monitors: usize) -> Duration {
    Duration::from_secs(5)
        .max(Duration::from_millis(50) * u32::try_from(monitors).unwrap_or(u32::MAX))
}

async fn worker(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Outcome>) {
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

async fn publish_transition(
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

async fn went_down(ctx: &Context, plan: &Plan, why: String) -> Result<Uuid, sqlx::Error> {
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
        &plan.severity,
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
        let note = notify(ctx, url, plan, "down", Some(incident)).await;
        add_timeline_event(pool, incident, "webhook", &note, MANAGER).await?;
    }
    Ok(incident)
}

async fn recovered(ctx: &Context, plan: &Plan) -> Result<(), sqlx::Error> {
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
            let note = notify(ctx, url, plan, "resolved", Some(incident)).await;
            add_timeline_event(pool, incident, "webhook", &note, MANAGER).await?;
        }
    }
    Ok(())
}

/// POSTs the alert, retrying with back-off; returns what happened, for the timeline.
async fn notify(
    ctx: &Context,
    url: &str,
    plan: &Plan,
    state: &str,
    incident: Option<Uuid>,
) -> String {
    let body = json!({"monitor": plan.name, "namespace": plan.namespace, "state": state, "severity": plan.severity,
                      "incident": incident, "target": plan.target});
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

fn percent(v: Option<f64>) -> Option<String> {
    v.map(|p| format!("{p:.2}"))
}

async fn write_status(
    ctx: &Context,
    plan: &Plan,
    t: &mut Tracked,
    o: &Outcome,
) -> Result<(), kube::Error> {
    let pool = ctx.vault.pool();
    let (ns, name) = (&plan.namespace, &plan.name);
    let window = |h: i64| TimeDelta::hours(h);
    let mut s = t.status.clone();
    s.observed_generation = plan.generation;
    s.state = t.counters.state.unwrap_or_default();
    s.consecutive_failures = t.counters.consecutive_failures;
    s.consecutive_successes = t.counters.consecutive_successes;
    s.last_check_at = Some(to_k8s(o.at));
    s.last_error = o.verdict.clone().err();
    s.uptime = Uptime {
        last1h: percent(uptime(pool, ns, name, window(1)).await.ok().flatten()),
        last24h: percent(uptime(pool, ns, name, window(24)).await.ok().flatten()),
        last7d: percent(uptime(pool, ns, name, window(24 * 7)).await.ok().flatten()),
        last30d: percent(uptime(pool, ns, name, window(24 * 30)).await.ok().flatten()),
    };
    s.latency = latency_stats(pool, ns, name, window(24))
        .await
        .ok()
        .flatten()
        .map(|l| LatencyPercentiles {
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
    let api: Api<Monitor> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({"apiVersion": format!("{GROUP}/{VERSION}"), "kind": "Monitor", "status": s});
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    t.status = s;
    Ok(())
}
