//! The crawl schedule: a tokio-cron-scheduler job ticks every minute on every replica; the
//! replica that takes the scheduler's advisory lock crawls the due sources one after the
//! other, the others skip the tick.

use sqlx::{Connection, PgPool};
use tokio_cron_scheduler::Job;
pub use tokio_cron_scheduler::{JobScheduler, JobSchedulerError};

use super::crawler::OnStored;
use super::error::CrawlError;
use super::fetch::FetchLimits;
use super::job::{CrawlJob, Trigger, try_lock};
use super::store;

/// The scheduler's tick: every minute, at second 0 (UTC).
pub const TICK: &str = "0 * * * * *";
/// Due sources crawled per tick at most; the rest wait for the next.
pub const MAX_DUE_PER_TICK: i64 = 20;
const SCHEDULER_LOCK: &str = "javari_web_crawls:scheduler";

/// What one tick did.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Another replica holds the scheduler's lock: nothing was done here.
    pub skipped: bool,
    pub runs: Vec<store::Run>,
}

/// Crawls every due source, if this replica gets the scheduler's lock.
pub async fn sweep(
    pool: &PgPool,
    limits: &FetchLimits,
    on_stored: Option<&OnStored>,
) -> Result<Sweep, CrawlError> {
    let Some(lock) = try_lock(pool, SCHEDULER_LOCK).await? else {
        return Ok(Sweep {
            skipped: true,
            runs: Vec::new(),
        });
    };
    let mut sweep = Sweep::default();
    let due = store::due_sources(pool, MAX_DUE_PER_TICK).await;
    for source in due.unwrap_or_default() {
        let id = source.id;
        let job = match CrawlJob::begin(pool, source, Trigger::Schedule).await {
            Ok(job) => job,
            Err(CrawlError::Busy) => continue,
            Err(e) => {
                tracing::error!(source = %id, error = %e, "cannot start a scheduled crawl");
                continue;
            }
        };
        match job.execute(pool, limits, on_stored).await {
            Ok(outcome) => sweep.runs.push(outcome.run),
            Err(e) => tracing::error!(source = %id, error = %e, "scheduled crawl failed"),
        }
    }
    let _ = lock.close().await;
    Ok(sweep)
}

/// Starts the schedule (call once per process; replicas coordinate through the lock).
pub async fn start(
    pool: PgPool,
    limits: FetchLimits,
    on_stored: Option<OnStored>,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(TICK, move |_id, _scheduler| {
        let (pool, limits, on_stored) = (pool.clone(), limits.clone(), on_stored.clone());
        Box::pin(async move {
            match sweep(&pool, &limits, on_stored.as_ref()).await {
                Ok(s) if !s.runs.is_empty() => {
                    tracing::info!(crawls = s.runs.len(), "scheduled web crawls done");
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "web crawl schedule tick failed"),
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
