//! Scheduling: each Monitor has one timer task; a tick runs a check (never two of one
//! Monitor at once) and sends the outcome to the results worker.
//!
//! Checks use tokio's timer (millisecond resolution) rather than tokio-cron-scheduler, whose
//! scheduler loop looks at its jobs every 500 ms: a check must run within a few milliseconds
//! of its time. Cron schedules are read with croner, the parser tokio-cron-scheduler uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use javari_core::monitors::{CheckResult, Condition, Counters, evaluate_all, next_occurrence};
use javari_crds::common::Severity;
use javari_crds::monitor::{CheckRequest, MonitorActions, MonitorStatus};
use tokio::sync::Mutex;

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
    pub severity: Severity,
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
    metrics: Arc<crate::metrics::Metrics>,
    jobs: Mutex<HashMap<String, Ticking>>,
    plans: Arc<RwLock<HashMap<String, Arc<Plan>>>>,
    tx: mpsc::UnboundedSender<Outcome>,
    clients: Clients,
}

/// A Monitor's timer task, for the generation it was started for; stopped when dropped.
struct Ticking {
    generation: Option<i64>,
    task: tokio::task::JoinHandle<()>,
    /// One check now, under the same one-at-a-time rule as the timer's.
    tick: Arc<dyn Fn() + Send + Sync>,
}

impl Drop for Ticking {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Runner {
    pub fn start(ctx: Arc<Context>) -> Arc<Runner> {
        let (tx, rx) = mpsc::unbounded();
        tokio::spawn(worker(ctx.clone(), rx));
        Arc::new(Runner {
            metrics: ctx.metrics.clone(),
            jobs: Mutex::default(),
            plans: Arc::default(),
            tx,
            clients: Clients::new(),
        })
    }

    /// Checks `plan` on `every`; a new generation replaces the timer, the same one only the
    /// plan.
    pub async fn schedule(&self, plan: Plan, every: Every) {
        let key = plan.key();
        let generation = plan.generation;
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), Arc::new(plan));
        let mut jobs = self.jobs.lock().await;
        if jobs.get(&key).is_some_and(|t| t.generation == generation) {
            return;
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
        let tick = Arc::new(move || {
            let Some(slot) = InFlight::take(&running) else {
                metrics.checks_skipped.inc();
                return;
            };
            let plan = plans
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&job_key)
                .cloned();
            let (tx, clients) = (tx.clone(), clients.clone());
            tokio::spawn(async move {
                let _slot = slot;
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
            });
        });
        let timer_tick = tick.clone();
        let task = tokio::spawn(ticks(every, move || timer_tick()));
        // Replacing the entry drops (and stops) the previous generation's timer.
        jobs.insert(
            key,
            Ticking {
                generation,
                task,
                tick,
            },
        );
    }

    /// Starts one check of a scheduled Monitor now (`javari.ai/check-now`); false when it is
    /// not scheduled. A check already running is the answer: no second one is started.
    pub async fn check_now(&self, namespace: &str, name: &str) -> bool {
        let key = format!("{namespace}/{name}");
        let jobs = self.jobs.lock().await;
        match jobs.get(&key) {
            Some(ticking) => {
                (ticking.tick)();
                true
            }
            None => false,
        }
    }

    pub async fn unschedule(&self, namespace: &str, name: &str) {
        let key = format!("{namespace}/{name}");
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.jobs.lock().await.remove(&key);
    }
}

/// Calls `tick` at each time of `every`, until aborted. A tick the task could not keep (the
/// runtime was busy) is skipped, not made up in a burst.
async fn ticks(every: Every, mut tick: impl FnMut()) {
    match every {
        Every::Interval(period) => {
            let start = tokio::time::Instant::now() + period;
            let mut timer = tokio::time::interval_at(start, period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                timer.tick().await;
                tick();
            }
        }
        Every::Cron(cron) => {
            while let Some(next) = next_occurrence(&cron, Utc::now()) {
                let wait = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                tick();
            }
        }
    }
}
