//! One BackupPolicy reconcile: resolve, decide what is due, record the request in status
//! before the work starts (so a repeated reconcile never starts it twice), submit, check
//! staleness, requeue at the next due time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use javari_core::backups::{newest_verified, next_run};
use javari_core::conditions::{Desired, set};
use javari_core::monitors::{open_incident, resolve_incident};
use javari_core::time::{from_k8s, to_k8s};
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BACKUP_NOW_ANNOTATION, VERIFY_NOW_ANNOTATION};
use javari_crds::common::condition::{DEGRADED, PROGRESSING, READY};
use javari_crds::duration::parse_duration;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::job::{BACKUP_FAILED, DRILL_FAILED, Runner, Work, facts, policy_key};
use super::{Error, resolve};
use crate::context::Context;
use crate::driver::Steps;
use crate::report::write_status;

/// Deleting a policy keeps its backups (they outlive the resource by design); the cleanup
/// only resolves the policy's open stale-backup incident.
pub const FINALIZER: &str = "javari.ai/backup-policy";
/// Longest time between reconciles (staleness is re-checked at least this often).
const RECHECK: Duration = Duration::from_secs(300);

/// The BackupPolicy controller's steps for the driver, with the runner its work goes to.
pub struct Policies {
    pub ctx: Arc<Context>,
    pub runner: Arc<Runner>,
}

impl Steps for Policies {
    type Kind = BackupPolicy;
    type Error = Error;
    const FINALIZER: &'static str = FINALIZER;
    /// A backup is heavy: decide on the stored status, never on a cache that may not yet show
    /// the request this controller just recorded.
    const READ_LATEST: bool = true;

    fn context(&self) -> &Context {
        &self.ctx
    }

    async fn apply(&self, policy: Arc<BackupPolicy>) -> Result<Action, Error> {
        apply(&policy, &self.ctx, &self.runner).await
    }

    async fn cleanup(&self, policy: Arc<BackupPolicy>) -> Result<Action, Error> {
        let dedup = format!("backup-stale:{}", policy_key(&policy));
        resolve_incident(
            self.ctx.vault.pool(),
            &dedup,
            "the BackupPolicy was deleted",
        )
        .await?;
        Ok(Action::await_change())
    }
}

/// A schedule, checked: `Err` carries the message for the Degraded condition.
struct Schedule<'a>(&'a str);

fn cron(schedule: &str) -> Result<Schedule<'_>, String> {
    next_run(schedule, Utc::now()).map(|_| Schedule(schedule))
}

fn next_after(c: &Schedule<'_>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    next_run(c.0, after).ok()
}

async fn apply(
    policy: &BackupPolicy,
    ctx: &Arc<Context>,
    runner: &Arc<Runner>,
) -> Result<Action, Error> {
    let key = policy_key(policy);
    let spec = &policy.spec;
    let generation = policy.metadata.generation;
    let had_status = policy.status.is_some();
    let prev = policy.status.clone().unwrap_or_default();
    let mut s = prev.clone();
    s.observed_generation = generation;
    let now = Utc::now();

    // What cannot work is an error: the driver reports it (Event, Degraded, metric).
    let backup_cron = cron(&spec.schedule).map_err(|message| Error::ScheduleInvalid {
        field: "spec.schedule",
        message,
    })?;
    let drill_cron = cron(&spec.drill.schedule).map_err(|message| Error::ScheduleInvalid {
        field: "spec.drill.schedule",
        message,
    })?;
    let source = resolve::source_url(ctx, policy).await?;
    let dest = resolve::destination(ctx, policy).await?;
    // Resolved again: a Degraded left by an earlier reconcile error clears (one left by a
    // failed backup or drill stays until the next one succeeds).
    if s.conditions.iter().any(|c| {
        c.type_ == DEGRADED
            && c.status == "True"
            && c.reason != BACKUP_FAILED
            && c.reason != DRILL_FAILED
    }) {
        set(
            &mut s.conditions,
            Desired::new(DEGRADED, false, "Resolved", ""),
            generation,
            now,
        );
        s.conditions.retain(|c| c.type_ != READY);
    }

    let created = policy
        .metadata
        .creation_timestamp
        .as_ref()
        .map(from_k8s)
        .unwrap_or(now);
    let busy = runner.is_busy(&key);

    // Backups: backup-now, immediate (once), or the schedule.
    let annotations = policy.annotations();
    let backup_request = annotations
        .get(BACKUP_NOW_ANNOTATION)
        .filter(|v| prev.last_backup_request.as_ref() != Some(*v))
        .cloned();
    let last_attempt = prev.last_attempt_at.as_ref().map(from_k8s);
    let scheduled = next_after(&backup_cron, last_attempt.unwrap_or(created));
    let backup_due = backup_request.is_some()
        || (spec.immediate && last_attempt.is_none())
        || (!spec.suspend && scheduled.is_some_and(|t| t <= now));
    let mut work = None;
    if backup_due && !busy {
        s.last_attempt_at = Some(to_k8s(now));
        if let Some(r) = &backup_request {
            s.last_backup_request = Some(r.clone());
        }
        work = Some(Work::Backup);
    }

    // Drills: verify-now, or the drill schedule.
    let verify_request = annotations
        .get(VERIFY_NOW_ANNOTATION)
        .filter(|v| prev.last_verify_request.as_ref() != Some(*v))
        .cloned();
    let last_drill = prev.last_drill_attempt_at.as_ref().map(from_k8s);
    let drill_at = next_after(&drill_cron, last_drill.unwrap_or(created));
    let drill_due = verify_request.is_some()
        || (!spec.suspend && !spec.drill.suspend && drill_at.is_some_and(|t| t <= now));
    if work.is_none() && drill_due && !busy {
        s.last_drill_attempt_at = Some(to_k8s(now));
        if let Some(r) = &verify_request {
            s.last_verify_request = Some(r.clone());
        }
        work = Some(Work::Drill);
    }

    let next_backup = next_after(
        &backup_cron,
        s.last_attempt_at.as_ref().map(from_k8s).unwrap_or(created),
    );
    let next_drill = next_after(
        &drill_cron,
        s.last_drill_attempt_at
            .as_ref()
            .map(from_k8s)
            .unwrap_or(created),
    );
    s.next_backup_at = (!spec.suspend).then_some(next_backup).flatten().map(to_k8s);
    s.next_drill_at = (!spec.suspend && !spec.drill.suspend)
        .then_some(next_drill)
        .flatten()
        .map(to_k8s);
    facts(ctx.vault.pool(), &key, &mut s).await?;

    // Staleness: the newest verified backup (or, with none, the policy itself) is too old.
    let limit = parse_duration(&spec.stale_after).unwrap_or(Duration::from_secs(26 * 3600));
    let verified_at = newest_verified(ctx.vault.pool(), &key)
        .await?
        .and_then(|b| b.snapshot_at);
    let age = now - verified_at.unwrap_or(created);
    let stale = age.to_std().unwrap_or_default() > limit;
    let dedup = format!("backup-stale:{key}");
    if stale && !spec.suspend {
        let message = match verified_at {
            Some(t) => format!(
                "the newest verified backup of {key} is from {t}, older than {}",
                spec.stale_after
            ),
            None => format!("{key} has no verified backup after {}", spec.stale_after),
        };
        let id = open_incident(
            ctx.vault.pool(),
            &dedup,
            &format!("Backups of {key} are stale"),
            spec.severity,
            (
                "BackupPolicy",
                &policy.namespace().unwrap_or_default(),
                &policy.name_any(),
            ),
            Some("restore-from-backup"),
            &message,
        )
        .await?;
        s.open_incident = Some(id.to_string());
        set(
            &mut s.conditions,
            Desired::new(READY, false, "BackupStale", message),
            generation,
            now,
        );
    } else if prev.open_incident.is_some() {
        resolve_incident(ctx.vault.pool(), &dedup, "a fresh verified backup exists").await?;
        s.open_incident = None;
    }
    if let Some(w) = work {
        let reason = match w {
            Work::Backup => "BackupRunning",
            Work::Drill => "DrillRunning",
        };
        set(
            &mut s.conditions,
            Desired::new(PROGRESSING, true, reason, ""),
            generation,
            now,
        );
    }
    if !s.conditions.iter().any(|c| c.type_ == READY) {
        let ready = if s.backups > 0 {
            Desired::new(
                READY,
                true,
                "Resolved",
                "the policy resolves and has backups",
            )
        } else {
            Desired::new(READY, false, "NoBackupYet", "waiting for the first backup")
        };
        set(&mut s.conditions, ready, generation, now);
    }
    // Recorded before the work starts: a second reconcile sees the request as taken.
    write_status(ctx, policy, had_status, &prev, &s).await?;
    if let Some(w) = work {
        let mut snapshot = policy.clone();
        snapshot.status = Some(s.clone());
        runner.submit(ctx.clone(), snapshot, w, source, dest);
    }
    let mut wait = RECHECK;
    for t in [s.next_backup_at.as_ref(), s.next_drill_at.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Ok(d) = (from_k8s(t) - now).to_std() {
            wait = wait.min(d + Duration::from_millis(500));
        }
    }
    if busy && (backup_due || drill_due) {
        wait = wait.min(Duration::from_secs(5));
    }
    Ok(Action::requeue(wait.max(Duration::from_secs(1))))
}
