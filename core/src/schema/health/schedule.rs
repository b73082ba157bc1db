//! Scheduled scans: a tokio-cron-scheduler job on every replica; the replica that takes the
//! scan's advisory lock scans, the others skip the tick.

use sqlx::PgPool;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::checks::Thresholds;
use super::store::{HealthError, PLATFORM, scan};
use crate::schema::drift::DriftSource;

/// Default schedule: every hour at minute 7 (6 fields, with seconds; UTC).
pub const DEFAULT_SCHEDULE: &str = "0 7 * * * *";

/// Starts scanning the platform's database on `schedule`, drift included when `drift` is
/// given. Keep the scheduler alive.
pub async fn start(
    pool: PgPool,
    schedule: &str,
    thresholds: Thresholds,
    drift: Option<DriftSource>,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(schedule, move |_id, _scheduler| {
        let (pool, thresholds, drift) = (pool.clone(), thresholds.clone(), drift.clone());
        Box::pin(async move {
            match scan(
                &pool,
                &pool,
                PLATFORM,
                "schedule",
                &thresholds,
                drift.as_ref(),
            )
            .await
            {
                Ok(s) => tracing::info!(scan = %s.id, status = %s.status, "schema scan done"),
                Err(HealthError::Busy(_)) => {}
                Err(e) => tracing::error!(error = %e, "schema scan failed"),
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
