//! Removes expired sessions, expired second-factor challenges, and API tokens that expired
//! or were revoked longer than the retention ago — on a cron schedule, by one replica at a
//! time (a transaction-scoped PostgreSQL advisory lock; the others skip that run).

use std::time::Duration;

use sqlx::PgPool;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// The advisory lock key of the pruning run ("javari" in ASCII, then 1).
pub const PRUNE_LOCK: i64 = 0x6a61_7661_7269_0001;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub challenges: u64,
    pub tokens: u64,
}

/// One pruning run; `None` when another replica holds the lock.
pub async fn prune_once(pool: &PgPool, retention: Duration) -> Result<Option<Pruned>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(PRUNE_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    // Every user's expired rows: the owner's function (the schedule acts for no user).
    let (sessions, challenges, tokens): (i64, i64, i64) =
        sqlx::query_as("SELECT sessions, challenges, tokens FROM javari_prune_auth($1)")
            .bind(retention.as_secs_f64())
            .fetch_one(&mut *tx)
            .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let (sessions, challenges, tokens) = (count(sessions), count(challenges), count(tokens));
    tx.commit().await?;
    Ok(Some(Pruned {
        sessions,
        challenges,
        tokens,
    }))
}

/// Runs [`prune_once`] on `schedule` (cron with seconds) until the scheduler is dropped.
pub async fn start_pruning(
    pool: PgPool,
    schedule: &str,
    retention: Duration,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(schedule, move |_, _| {
        let pool = pool.clone();
        Box::pin(async move {
            match prune_once(&pool, retention).await {
                Ok(Some(p)) if p != Pruned::default() => tracing::info!(
                    sessions = p.sessions,
                    challenges = p.challenges,
                    tokens = p.tokens,
                    "pruned expired sessions and tokens"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning sessions and tokens failed"),
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
