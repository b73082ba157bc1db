use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use javari_core::conditions::{Desired, set};
use javari_core::monitors::{Counters, parse};
use javari_crds::common::Severity;
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::duration::parse_duration;
use javari_crds::monitor::{MonitorState, MonitorStatus};
use javari_crds::{Monitor, Project};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use tracing::{Instrument, info_span};

use super::Error;
use super::worker::{Every, Plan, Runner};
use crate::context::Context;

pub const FINALIZER: &str = "javari.ai/monitor";
/// Default time between checks when a Monitor sets neither interval nor schedule.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

type Shared = (Arc<Context>, Arc<Runner>);

pub fn error_policy(_m: Arc<Monitor>, error: &Error, shared: Arc<Shared>) -> Action {
    shared.0.metrics.failure("Monitor", error.reason());
    Action::requeue(Duration::from_secs(10))
}

pub async fn reconcile(monitor: Arc<Monitor>, shared: Arc<Shared>) -> Result<Action, Error> {
    let (ctx, runner) = (&shared.0, &shared.1);
    let ns = monitor.namespace().unwrap_or_default();
    let span =
        info_span!("reconcile", kind = "Monitor", namespace = %ns, name = %monitor.name_any());
    async move {
        let _timing = ctx.metrics.reconcile("Monitor");
        let api: Api<Monitor> = Api::namespaced(ctx.client.clone(), &ns);
        finalizer(&api, FINALIZER, monitor, |event| async {
            match event {
                Finalizer::Apply(m) => apply(&m, ctx, runner).await,
                Finalizer::Cleanup(m) => {
                    runner.unschedule(&ns, &m.name_any()).await;
                    Ok(Action::await_change())
                }
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .instrument(span)
    .await
}

async fn apply(monitor: &Monitor, ctx: &Context, runner: &Runner) -> Result<Action, Error> {
    let ns = monitor.namespace().unwrap_or_default();
    let name = monitor.name_any();
    let spec = &monitor.spec;
    let generation = monitor.metadata.generation;
    let prev = monitor.status.clone().unwrap_or_default();
    let now = Utc::now();

    let problem = |reason: &str, message: String| {
        let mut s = prev.clone();
        s.observed_generation = generation;
        set(
            &mut s.conditions,
            Desired::new(DEGRADED, true, reason, message.clone()),
            generation,
            now,
        );
        set(
            &mut s.conditions,
            Desired::new(READY, false, reason, message),
            generation,
            now,
        );
        s
    };
    if spec.suspend {
        runner.unschedule(&ns, &name).await;
        let mut s = problem("Suspended", "checks are suspended".to_owned());
        s.state = MonitorState::Suspended;
        write_status(ctx, monitor, &prev, s).await?;
        return Ok(Action::await_change());
    }
    let conditions: Result<Vec<_>, _> = spec.conditions.iter().map(|c| parse(c)).collect();
    let conditions = match conditions {
        Ok(c) => c,
        Err(e) => {
            runner.unschedule(&ns, &name).await;
            write_status(
                ctx,
                monitor,
                &prev,
                problem("ConditionInvalid", e.to_string()),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let (target, project) = match (&spec.url, &spec.project_ref) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(project)) => {
            let found = Api::<Project>::namespaced(ctx.client.clone(), &ns)
                .get_opt(&project.name)
                .await?;
            let Some(p) = found else {
                runner.unschedule(&ns, &name).await;
                write_status(
                    ctx,
                    monitor,
                    &prev,
                    problem(
                        "ProjectNotFound",
                        format!("Project {} not found", project.name),
                    ),
                )
                .await?;
                return Ok(Action::requeue(Duration::from_secs(30)));
            };
            let url = ctx
                .project_url
                .replace("{name}", &project.name)
                .replace("{namespace}", &ns)
                .replace("{path}", &p.spec.health_path);
            (url, Some(project.name.clone()))
        }
        (None, None) => {
            // The CRD's CEL rule requires one of them; say so rather than guess.
            write_status(
                ctx,
                monitor,
                &prev,
                problem("NoTarget", "set url or projectRef".to_owned()),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let every = match (&spec.interval, &spec.schedule) {
        (_, Some(cron)) if cron.split_whitespace().count() == 5 => Every::Cron(format!("0 {cron}")),
        (_, Some(cron)) => Every::Cron(cron.clone()),
        (Some(interval), None) => Every::Interval(
            parse_duration(interval)
                .unwrap_or(DEFAULT_INTERVAL)
                .max(Duration::from_secs(1)),
        ),
        (None, None) => Every::Interval(DEFAULT_INTERVAL),
    };
    let plan = Plan {
        namespace: ns.clone(),
        name: name.clone(),
        target,
        request: spec.request.clone(),
        timeout: parse_duration(&spec.request.timeout).unwrap_or(Duration::from_secs(10)),
        conditions,
        failure_threshold: spec.failure_threshold,
        success_threshold: spec.success_threshold,
        severity: match spec.severity {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
        .to_owned(),
        actions: spec.actions.clone(),
        project,
        initial: Counters {
            state: Some(prev.state),
            consecutive_failures: prev.consecutive_failures,
            consecutive_successes: prev.consecutive_successes,
        },
        status: prev.clone(),
        generation,
    };
    runner
        .schedule(plan, every)
        .await
        .map_err(|e| Error::Scheduler(e.to_string()))?;
    if prev.observed_generation != generation {
        let mut s = prev.clone();
        s.observed_generation = generation;
        set(
            &mut s.conditions,
            Desired::new(DEGRADED, false, "Scheduled", ""),
            generation,
            now,
        );
        write_status(ctx, monitor, &prev, s).await?;
    }
    Ok(Action::requeue(Duration::from_secs(600)))
}

async fn write_status(
    ctx: &Context,
    monitor: &Monitor,
    prev: &MonitorStatus,
    status: MonitorStatus,
) -> Result<(), Error> {
    Ok(crate::report::write_status(ctx, monitor, monitor.status.is_some(), prev, &status).await?)
}
