//! Scheduling: each Monitor has one tokio-cron-scheduler job; a tick runs a check (never two
//! of one Monitor at once) and sends the outcome to the results worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use javari_core::monitors::{CheckResult, Condition, Counters, evaluate_all};
use javari_crds::monitor::{CheckRequest, MonitorActions, MonitorStatus};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

pub use javari_core::monitors::Every;

use super::check::{Clients, run_check};
use super::worker::worker;
use crate::context::Context;

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
    pub(super) fn key(&self) -> String {
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
