//! The rollup job: folds complete hours of raw checks into hourly rows and complete days of
//! hourly rows into daily rows, then prunes each tier past its retention. One replica runs
//! it at a time (a session-level PostgreSQL advisory lock; the others skip that run). Each
//! hour and each day is one transaction that also moves the watermark, so a crash loses
//! nothing and repeats nothing; rows that arrive late for an hour already rolled up are
//! not counted (the job waits `settle` past the end of an hour before rolling it up).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::histogram::{BUCKETS_MS, Histogram};
use super::query::floor_hour;

/// The advisory lock key of the rollup job ("javari" in ASCII, then 0x12).
pub const ROLLUP_LOCK: i64 = 0x6a61_7661_7269_0012;

/// How long each tier is kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub raw: TimeDelta,
    pub hourly: TimeDelta,
    pub daily: TimeDelta,
    /// Per-call Provider rows (`javari_provider_performance`), kept as long as hourly health.
    pub provider_calls: TimeDelta,
    /// How long after an hour ends it is rolled up (checks are written in batches).
    pub settle: TimeDelta,
    /// Raw rows deleted per statement while pruning.
    pub prune_batch: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: TimeDelta::hours(48),
            hourly: TimeDelta::days(90),
            daily: TimeDelta::days(730),
            provider_calls: TimeDelta::days(90),
            settle: TimeDelta::minutes(2),
            prune_batch: 50_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub hours: u64,
    pub hourly_rows: u64,
    pub days: u64,
    pub daily_rows: u64,
    pub raw_pruned: u64,
    pub hourly_pruned: u64,
    pub daily_pruned: u64,
    pub provider_calls_pruned: u64,
    pub provider_days_pruned: u64,
}

type Key = (String, String);
/// Namespace, name, histogram bucket (1-based), checks, passing, response sum, timed checks.
type BucketGroup = (String, String, Option<i32>, i64, i64, i64, i64);
/// Namespace, name, checks, passing, response sum, timed checks, histogram.
type HourlyRow = (String, String, i32, i32, i64, i32, Vec<i32>);

#[derive(Default)]
struct Acc {
    checks: i64,
    up: i64,
    sum: i64,
    count: i64,
    histogram: Histogram,
}

/// One run at `now`; `None` when another replica holds the lock.
pub async fn rollup_once(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<Option<RollupReport>, sqlx::Error> {
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(ROLLUP_LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(None);
    }
    let result = run(pool, now, retention).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ROLLUP_LOCK)
        .execute(&mut *lock)
        .await;
    result.map(Some)
}

async fn run(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<RollupReport, sqlx::Error> {
    let mut report = RollupReport::default();
    let target = floor_hour(now - retention.settle);
    loop {
        let mut tx = pool.begin().await?;
        let (hourly_until, _): (Option<DateTime<Utc>>, Option<NaiveDate>) = sqlx::query_as(
            "SELECT hourly_until, daily_until FROM javari_health_rollup_state FOR UPDATE",
        )
        .fetch_one(&mut *tx)
        .await?;
        // The next hour holding raw rows not yet rolled up, skipping empty hours.
        let next: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(checked_at) FROM javari_health_checks \
             WHERE checked_at >= coalesce($1, '-infinity'::timestamptz) AND checked_at < $2",
        )
        .bind(hourly_until)
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        let Some(next) = next else {
            if hourly_until.is_none_or(|u| u < target) {
                set_hourly_until(&mut tx, target).await?;
            }
            tx.commit().await?;
            break;
        };
        let hour = floor_hour(next);
        report.hourly_rows += roll_hour(&mut tx, hour).await?;
        report.hours += 1;
        set_hourly_until(&mut tx, hour + TimeDelta::hours(1)).await?;
        tx.commit().await?;
    }
    loop {
        let mut tx = pool.begin().await?;
        let (hourly_until, daily_until): (Option<DateTime<Utc>>, Option<NaiveDate>) =
            sqlx::query_as(
                "SELECT hourly_until, daily_until FROM javari_health_rollup_state FOR UPDATE",
            )
            .fetch_one(&mut *tx)
            .await?;
        let Some(hourly_until) = hourly_until else {
            tx.commit().await?;
            break;
        };
        // Days whose hours have all been rolled up.
        let complete_before = hourly_until.date_naive();
        let from = daily_until.map(day_start);
        let next: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(hour) FROM javari_health_check_hourly \
             WHERE hour >= coalesce($1, '-infinity'::timestamptz) AND hour < $2",
        )
        .bind(from)
        .bind(day_start(complete_before))
        .fetch_one(&mut *tx)
        .await?;
        let Some(next) = next else {
            if daily_until.is_none_or(|d| d < complete_before) {
                set_daily_until(&mut tx, complete_before).await?;
            }
            tx.commit().await?;
            break;
        };
        let day = next.date_naive();
        report.daily_rows += roll_day(&mut tx, day).await?;
        report.days += 1;
        set_daily_until(&mut tx, day + TimeDelta::days(1)).await?;
        tx.commit().await?;
    }
    prune(pool, now, retention, &mut report).await?;
    Ok(report)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

async fn set_hourly_until(
    tx: &mut Transaction<'_, Postgres>,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE javari_health_rollup_state SET hourly_until = $1, updated_at = now()")
        .bind(until)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn set_daily_until(
    tx: &mut Transaction<'_, Postgres>,
    until: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE javari_health_rollup_state SET daily_until = $1, updated_at = now()")
        .bind(until)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Folds the raw rows of `hour` into hourly rows (replacing any), one per Monitor.
async fn roll_hour(
    tx: &mut Transaction<'_, Postgres>,
    hour: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    // An hour of 1,000 Monitors at 10 s is 360,000 rows: grouped in memory (bounded here, for
    // this transaction only) instead of sorted on disk, and without JIT compilation, which
    // costs more than it saves on a query this short (540 ms -> 230 ms on the bench data).
    sqlx::query("SELECT set_config('work_mem', '32MB', true), set_config('jit', 'off', true)")
        .execute(&mut **tx)
        .await?;
    let groups: Vec<BucketGroup> = sqlx::query_as(
        "SELECT monitor_namespace, monitor_name, width_bucket(response_time_ms, $3::int[]), \
                count(*), count(*) FILTER (WHERE status = 'up'), \
                coalesce(sum(response_time_ms), 0)::int8, count(response_time_ms) \
         FROM javari_health_checks \
         WHERE checked_at >= $1 AND checked_at < $2 AND monitor_name IS NOT NULL \
           AND monitor_namespace IS NOT NULL \
         GROUP BY 1, 2, 3",
    )
    .bind(hour)
    .bind(hour + TimeDelta::hours(1))
    .bind(BUCKETS_MS.to_vec())
    .fetch_all(&mut **tx)
    .await?;
    let folded = fold(groups);
    write_rows(tx, "javari_health_check_hourly", "hour", hour, None, folded).await
}

/// Folds the hourly rows of `day` into daily rows (replacing any), one per Monitor.
async fn roll_day(tx: &mut Transaction<'_, Postgres>, day: NaiveDate) -> Result<u64, sqlx::Error> {
    let rows: Vec<HourlyRow> = sqlx::query_as(
        "SELECT monitor_namespace, monitor_name, checks, up, response_sum_ms, response_count, histogram \
         FROM javari_health_check_hourly WHERE hour >= $1 AND hour < $2",
    )
    .bind(day_start(day))
    .bind(day_start(day) + TimeDelta::days(1))
    .fetch_all(&mut **tx)
    .await?;
    let mut by_monitor: BTreeMap<Key, Acc> = BTreeMap::new();
    for (ns, name, checks, up, sum, count, histogram) in rows {
        let acc = by_monitor.entry((ns, name)).or_default();
        acc.checks += i64::from(checks);
        acc.up += i64::from(up);
        acc.sum += sum;
        acc.count += i64::from(count);
        if acc.histogram.0.is_empty() {
            acc.histogram = Histogram::empty();
        }
        let counts: Vec<i64> = histogram.into_iter().map(i64::from).collect();
        acc.histogram.add_counts(&counts);
    }
    write_rows(
        tx,
        "javari_health_check_daily",
        "day",
        day_start(day),
        Some(day),
        by_monitor,
    )
    .await
}

fn fold(groups: Vec<BucketGroup>) -> BTreeMap<Key, Acc> {
    let mut by_monitor: BTreeMap<Key, Acc> = BTreeMap::new();
    for (ns, name, bucket, checks, up, sum, count) in groups {
        let acc = by_monitor.entry((ns, name)).or_default();
        if acc.histogram.0.is_empty() {
            acc.histogram = Histogram::empty();
        }
        acc.checks += checks;
        acc.up += up;
        acc.sum += sum;
        acc.count += count;
        // width_bucket is 1-based; NULL response times (no answer) have no bucket.
        if let Some(b) = bucket
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b >= 1)
            && let Some(slot) = acc.histogram.0.get_mut(b - 1)
        {
            *slot += count;
        }
    }
    by_monitor
}

async fn write_rows(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    column: &str,
    at: DateTime<Utc>,
    day: Option<NaiveDate>,
    rows: BTreeMap<Key, Acc>,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut namespaces = Vec::new();
    let mut names = Vec::new();
    let mut checks = Vec::new();
    let mut ups = Vec::new();
    let mut sums = Vec::new();
    let mut counts = Vec::new();
    let mut histograms = Vec::new();
    for ((ns, name), acc) in rows {
        namespaces.push(ns);
        names.push(name);
        checks.push(i32::try_from(acc.checks).unwrap_or(i32::MAX));
        ups.push(i32::try_from(acc.up).unwrap_or(i32::MAX));
        sums.push(acc.sum);
        counts.push(i32::try_from(acc.count).unwrap_or(i32::MAX));
        histograms.push(acc.histogram.to_pg_literal());
    }
    let at_sql = if day.is_some() {
        "$8::date"
    } else {
        "$8::timestamptz"
    };
    let sql = format!(
        "INSERT INTO {table} (monitor_namespace, monitor_name, {column}, checks, up, response_sum_ms, response_count, histogram) \
         SELECT ns, name, {at_sql}, c, u, s, n, h::int[] \
         FROM UNNEST($1::text[], $2::text[], $3::int[], $4::int[], $5::int8[], $6::int[], $7::text[]) AS t(ns, name, c, u, s, n, h) \
         ON CONFLICT (monitor_namespace, monitor_name, {column}) DO UPDATE SET \
           checks = EXCLUDED.checks, up = EXCLUDED.up, response_sum_ms = EXCLUDED.response_sum_ms, \
           response_count = EXCLUDED.response_count, histogram = EXCLUDED.histogram"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(namespaces)
        .bind(names)
        .bind(checks)
        .bind(ups)
        .bind(sums)
        .bind(counts)
        .bind(histograms);
    let query = match day {
        Some(d) => query.bind(d.to_string()),
        None => query.bind(at.to_rfc3339()),
    };
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

async fn prune(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention: Retention,
    report: &mut RollupReport,
) -> Result<(), sqlx::Error> {
    // Rows go only once they are both old and rolled up. The cut-offs are computed here and
    // bound as plain values, so the planner reads the time indexes (with the watermark as a
    // subquery in the statement it estimated a third of the table and scanned all of it).
    let (hourly_until, daily_until): (Option<DateTime<Utc>>, Option<NaiveDate>) =
        sqlx::query_as("SELECT hourly_until, daily_until FROM javari_health_rollup_state")
            .fetch_one(pool)
            .await?;
    if let Some(rolled) = hourly_until {
        report.raw_pruned = delete_in_batches(
            pool,
            "DELETE FROM javari_health_checks WHERE id IN ( \
               SELECT id FROM javari_health_checks WHERE checked_at < $1 LIMIT $2)",
            rolled.min(now - retention.raw),
            retention.prune_batch,
        )
        .await?;
    }
    if let Some(rolled) = daily_until {
        report.hourly_pruned =
            sqlx::query("DELETE FROM javari_health_check_hourly WHERE hour < $1")
                .bind(day_start(rolled).min(now - retention.hourly))
                .execute(pool)
                .await?
                .rows_affected();
    }
    report.daily_pruned = sqlx::query("DELETE FROM javari_health_check_daily WHERE day < $1::date")
        .bind((now - retention.daily).date_naive().to_string())
        .execute(pool)
        .await?
        .rows_affected();
    report.provider_calls_pruned = delete_in_batches(
        pool,
        "DELETE FROM javari_provider_performance WHERE id IN ( \
           SELECT id FROM javari_provider_performance WHERE created_at < $1 LIMIT $2)",
        now - retention.provider_calls,
        retention.prune_batch,
    )
    .await?;
    report.provider_days_pruned =
        sqlx::query("DELETE FROM javari_provider_days WHERE day < $1::date")
            .bind((now - retention.daily).date_naive().to_string())
            .execute(pool)
            .await?
            .rows_affected();
    Ok(())
}

/// Runs `delete` (rows before `$1`, at most `$2` of them) until it deletes fewer than `batch`,
/// so no statement holds locks on a large table for long; returns how many rows went.
async fn delete_in_batches(
    pool: &PgPool,
    delete: &'static str,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(delete)
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < batch as u64 {
            return Ok(total);
        }
    }
}

/// Runs [`rollup_once`] on `schedule` (cron with seconds) until the scheduler is dropped.
pub async fn start_rollups(
    pool: PgPool,
    schedule: &str,
    retention: Retention,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(schedule, move |_, _| {
        let pool = pool.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            match rollup_once(&pool, Utc::now(), retention).await {
                Ok(Some(r)) if r != RollupReport::default() => tracing::info!(
                    hours = r.hours,
                    days = r.days,
                    raw_pruned = r.raw_pruned,
                    hourly_pruned = r.hourly_pruned,
                    daily_pruned = r.daily_pruned,
                    ms = started.elapsed().as_millis() as u64,
                    "rolled up health checks"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "rolling up health checks failed"),
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
