//! Starting a crawl: one at a time per source (a PostgreSQL advisory lock held for the
//! whole crawl, by any replica), its run row first so the caller can follow it.

use sqlx::{Connection, PgConnection, PgPool};

use super::crawler::{CrawlOutcome, OnStored, crawl};
use super::error::CrawlError;
use super::fetch::FetchLimits;
use super::store::{self, Run, Source};

/// What started a crawl, as stored in `javari_web_crawl_runs.trigger`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// A crawl holding its source's lock, its run row written.
pub struct CrawlJob {
    /// A connection of its own, out of the pool: the session advisory lock lives as long as
    /// it does, and dropping it (a panic, a crash) releases the lock with the connection.
    lock: PgConnection,
    pub source: Source,
    pub run: Run,
}

pub(crate) async fn try_lock(pool: &PgPool, key: &str) -> Result<Option<PgConnection>, CrawlError> {
    let mut conn = pool.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(key)
        .fetch_one(&mut conn)
        .await?;
    if locked {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

impl CrawlJob {
    /// Takes the source's lock ([`CrawlError::Busy`] when a crawl of it is running anywhere),
    /// marks runs a crashed process left 'running' as failed, and writes the new run.
    pub async fn begin(
        pool: &PgPool,
        source: Source,
        trigger: Trigger,
    ) -> Result<CrawlJob, CrawlError> {
        let lock = try_lock(pool, &format!("javari_web_crawl:{}", source.id))
            .await?
            .ok_or(CrawlError::Busy)?;
        store::fail_abandoned_runs(pool, &source).await?;
        let run = store::create_run(pool, &source, trigger.as_str()).await?;
        Ok(CrawlJob { lock, source, run })
    }

    /// Crawls, writes the run's counts and releases the lock.
    pub async fn execute(
        self,
        pool: &PgPool,
        limits: &FetchLimits,
        on_stored: Option<&OnStored>,
    ) -> Result<CrawlOutcome, CrawlError> {
        let CrawlJob { lock, source, run } = self;
        let outcome = crawl(pool, &source, run, limits, on_stored).await;
        // Closing the session releases its advisory lock.
        let _ = lock.close().await;
        outcome
    }
}
