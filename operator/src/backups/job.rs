//! Backups and drills run in-process by the leader, at most `concurrency` at once and one per
//! policy; each reports to the policy's status and Events when it ends.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use javari_core::backups::{
    BackupOptions, Destination, RetentionRule, VerificationLevel, list_backups, list_verifications,
    newest_verified, prune, take_backup, verify,
};
use javari_core::conditions::{Desired, set};
use javari_core::time::to_k8s;
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BackupPolicyStatus, VerificationLevel as Level};
use javari_crds::common::condition::{DEGRADED, PROGRESSING, READY};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span, warn};

use crate::Context;
use crate::report::{publish, write_status};

/// What to run for a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Backup,
    Drill,
}

pub struct Runner {
    slots: Arc<Semaphore>,
    busy: Mutex<HashSet<String>>,
}

impl Runner {
    pub fn new(concurrency: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            busy: Mutex::new(HashSet::new()),
        }
    }

    pub fn is_busy(&self, policy: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(policy)
    }

    /// Starts `work` for `policy` unless something already runs for it; false when busy.
    pub fn submit(
        self: &Arc<Self>,
        ctx: Arc<Context>,
        policy: BackupPolicy,
        work: Work,
        source_url: String,
        dest: Destination,
    ) -> bool {
        let key = policy_key(&policy);
        if !self
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return false;
        }
        let me = self.clone();
        let span = info_span!("backup", policy = %key, work = ?work);
        tokio::spawn(
            async move {
                let permit = me.slots.clone().acquire_owned().await;
                let outcome = match work {
                    Work::Backup => backup(&ctx, &policy, &source_url, &dest).await,
                    Work::Drill => drill(&ctx, &policy, &source_url, &dest).await,
                };
                drop(permit);
                if let Err(e) = report(&ctx, &policy, work, outcome).await {
                    warn!(error = %e, "could not report the backup outcome");
                }
                me.busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
            }
            .instrument(span),
        );
        true
    }
}

pub fn policy_key(p: &BackupPolicy) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

async fn backup(
    ctx: &Context,
    policy: &BackupPolicy,
    source_url: &str,
    dest: &Destination,
) -> Result<String, String> {
    let key = policy_key(policy);
    let pool = ctx.vault.pool();
    let keys = ctx.vault.keys();
    let opts = BackupOptions {
        policy: key.clone(),
        source_url: source_url.to_owned(),
        level: policy.spec.compression.level,
        jobs: u32::try_from(policy.spec.jobs).unwrap_or(1).max(1),
        staging_dir: ctx.backups.staging_dir.clone(),
        rate_limit: None,
        created_by: "javari-operator".to_owned(),
    };
    let s = take_backup(pool, dest, keys, &opts)
        .await
        .map_err(|e| e.to_string())?;
    // The cheap rungs of the ladder right away; the drill runs on its own schedule.
    verify(
        pool,
        dest,
        keys,
        s.id,
        VerificationLevel::Catalog,
        None,
        opts.jobs,
        &ctx.backups.staging_dir,
    )
    .await
    .map_err(|e| e.to_string())?;
    let plan = prune(
        pool,
        dest,
        &key,
        RetentionRule::from(&policy.spec.retention),
        false,
    )
    .await
    .map_err(|e| format!("backup {} taken, but retention failed: {e}", s.id))?;
    info!(backup = %s.id, pruned = plan.prune.len(), "backup complete");
    Ok(format!(
        "backup {} complete: {} bytes stored ({} before compression) in {:.1}s; {} pruned",
        s.id,
        s.manifest.stored_bytes(),
        s.manifest.original_bytes(),
        s.duration.as_secs_f64(),
        plan.prune.len()
    ))
}

async fn drill(
    ctx: &Context,
    policy: &BackupPolicy,
    source_url: &str,
    dest: &Destination,
) -> Result<String, String> {
    let key = policy_key(policy);
    let pool = ctx.vault.pool();
    let newest = list_backups(pool, Some(&key), 50)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|b| b.status.is_restorable())
        .ok_or_else(|| "no complete backup to drill".to_owned())?;
    let report = verify(
        pool,
        dest,
        ctx.vault.keys(),
        newest.id,
        VerificationLevel::Drill,
        Some(source_url),
        u32::try_from(policy.spec.jobs).unwrap_or(1).max(1),
        &ctx.backups.staging_dir,
    )
    .await
    .map_err(|e| e.to_string())?;
    let rto = report.map(|r| r.restore_time.as_secs_f64()).unwrap_or(0.0);
    Ok(format!(
        "drill of backup {} passed: restored and matched the manifest in {rto:.1}s",
        newest.id
    ))
}

/// Fills the status fields that come from the database: newest complete and verified
/// backups, the last drill's RTO and how many backups are kept.
pub async fn facts(
    pool: &PgPool,
    policy: &str,
    s: &mut BackupPolicyStatus,
) -> Result<(), sqlx::Error> {
    let rows = list_backups(pool, Some(policy), 200).await?;
    let complete: Vec<_> = rows.iter().filter(|b| b.is_complete()).collect();
    s.backups = i32::try_from(complete.len()).unwrap_or(i32::MAX);
    if let Some(b) = complete.first() {
        s.last_backup_id = Some(b.id.to_string());
        s.last_completed_at = b.finished_at.map(to_k8s);
    }
    if let Some(v) = newest_verified(pool, policy).await? {
        s.last_verified_at = v.verified_at.map(to_k8s);
        s.last_verification_level = Some(match v.verification_level.as_str() {
            "drill" => Level::Drill,
            "catalog" => Level::Catalog,
            "checksums" => Level::Checksums,
            _ => Level::None,
        });
    }
    for b in complete.iter().take(20) {
        let drills = list_verifications(pool, b.id).await?;
        if let Some(d) = drills.iter().find(|v| v.level == "drill" && v.ok) {
            s.last_drill_rto_seconds = d.restore_ms.map(|ms| ms as f64 / 1000.0);
            break;
        }
    }
    Ok(())
}

/// Reasons of a backup or drill that failed: a Degraded with one of them stays until the next
/// one succeeds.
pub const BACKUP_FAILED: &str = "BackupFailed";
pub const DRILL_FAILED: &str = "DrillFailed";

/// Records the outcome in status; a failure goes through the driver's report path (Warning
/// Event, Ready=False/Degraded=True, failure metric) like a reconcile error.
async fn report(
    ctx: &Context,
    policy: &BackupPolicy,
    work: Work,
    outcome: Result<String, String>,
) -> Result<(), kube::Error> {
    let ns = policy.namespace().unwrap_or_default();
    let api: Api<BackupPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(current) = api.get_opt(&policy.name_any()).await? else {
        return Ok(());
    };
    let prev = current.status.clone().unwrap_or_default();
    let mut s = prev.clone();
    let now = Utc::now();
    let generation = current.metadata.generation;
    if let Err(e) = facts(ctx.vault.pool(), &policy_key(&current), &mut s).await {
        warn!(error = %e, "could not read backup facts");
    }
    let (done, failed) = match work {
        Work::Backup => ("BackupCompleted", BACKUP_FAILED),
        Work::Drill => ("DrillPassed", DRILL_FAILED),
    };
    set(
        &mut s.conditions,
        Desired::new(PROGRESSING, false, done, ""),
        generation,
        now,
    );
    match &outcome {
        Ok(message) => {
            s.last_error = None;
            set(
                &mut s.conditions,
                Desired::new(DEGRADED, false, done, ""),
                generation,
                now,
            );
            set(
                &mut s.conditions,
                Desired::new(READY, true, done, message.clone()),
                generation,
                now,
            );
            write_status(ctx, &current, current.status.is_some(), &prev, &s).await?;
            publish(ctx, &current, EventType::Normal, done, message).await;
        }
        Err(message) => {
            s.last_error = Some(message.clone());
            write_status(ctx, &current, current.status.is_some(), &prev, &s).await?;
            crate::driver::report_failure(ctx, &api, &current, failed, message).await;
        }
    }
    Ok(())
}
