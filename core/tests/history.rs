//! Health history across the rollup boundary, on a real PostgreSQL: every figure a page shows
//! (uptime per window, p50/p95/p99, day bars, the hourly trend) equals what the raw rows it
//! came from say, before and after the rollup job folded most of them into hourly and daily
//! rows and pruned them; the job is idempotent, skips while another replica holds its lock,
//! and keeps each tier only as long as it should.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use javari_core::history::{
    ROLLUP_LOCK, Retention, Window, bucket_of, bucket_upper_ms, day_bars, effective_start,
    fleet_trend, monitor_trend, rollup_once, tiers, window_stats,
};
use javari_core::monitors::{CheckRow, insert_checks};
use sqlx::PgPool;

fn check(monitor: &str, i: i64, at: DateTime<Utc>) -> CheckRow {
    let passed = i % 7 != 0;
    CheckRow {
        namespace: "prod".into(),
        monitor: monitor.into(),
        target: "http://127.0.0.1/health".into(),
        passed,
        // A failed check without an answer has no response time.
        response_time_ms: (i % 13 != 0).then_some(((i * 37) % 1500 + 5) as i32),
        status_code: Some(if passed { 200 } else { 503 }),
        error: (!passed).then(|| "[STATUS] == 200".to_owned()),
        checked_at: at,
    }
}

/// Every 10 minutes over the last four days for `web`, every 30 minutes for `api`, and a few
/// old rows (100 days, 800 days) to be rolled up and pruned.
fn fixture(now: DateTime<Utc>) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for i in 0..(4 * 24 * 6) {
        rows.push(check("web", i, now - TimeDelta::minutes(10 * i + 1)));
    }
    for i in 0..(4 * 24 * 2) {
        rows.push(check("api", i + 3, now - TimeDelta::minutes(30 * i + 7)));
    }
    rows.push(check("web", 1, now - TimeDelta::days(100)));
    rows.push(check("web", 2, now - TimeDelta::days(800)));
    rows
}

/// The nearest-rank percentile of the rows' response times, as a bucket's upper bound.
fn expected_percentile(rows: &[&CheckRow], q: f64) -> Option<i64> {
    let mut times: Vec<i32> = rows.iter().filter_map(|r| r.response_time_ms).collect();
    if times.is_empty() {
        return None;
    }
    times.sort_unstable();
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
    Some(bucket_upper_ms(bucket_of(times[rank - 1])))
}

async fn assert_pages_match_rows(pool: &PgPool, rows: &[CheckRow], now: DateTime<Utc>) {
    let t = tiers(pool).await.expect("tiers");
    for monitor in ["web", "api"] {
        for window in Window::ALL {
            let start = effective_start(now - window.duration(), t.hourly_until);
            let mine: Vec<&CheckRow> = rows
                .iter()
                .filter(|r| r.monitor == monitor && r.checked_at >= start && r.checked_at <= now)
                .collect();
            let stats = window_stats(pool, t, "prod", monitor, now, window.duration())
                .await
                .expect("stats");
            let what = format!("{monitor} {} (tiers {t:?})", window.label());
            assert_eq!(stats.checks, mine.len() as i64, "checks, {what}");
            assert_eq!(
                stats.up,
                mine.iter().filter(|r| r.passed).count() as i64,
                "up, {what}"
            );
            let timed: Vec<i64> = mine
                .iter()
                .filter_map(|r| r.response_time_ms.map(i64::from))
                .collect();
            assert_eq!(stats.response_count, timed.len() as i64, "timed, {what}");
            assert_eq!(
                stats.response_sum_ms,
                timed.iter().sum::<i64>(),
                "sum, {what}"
            );
            for q in [0.5, 0.95, 0.99] {
                assert_eq!(
                    stats.percentile(q),
                    expected_percentile(&mine, q),
                    "p{}, {what}",
                    q * 100.0
                );
            }
        }
        let bars = day_bars(pool, t, "prod", monitor, now, 7)
            .await
            .expect("bars");
        assert_eq!(bars.len(), 7);
        assert_eq!(bars.last().map(|b| b.day), Some(now.date_naive()));
        for bar in &bars {
            let on_day: Vec<&CheckRow> = rows
                .iter()
                .filter(|r| r.monitor == monitor && r.checked_at.date_naive() == bar.day)
                .collect();
            assert_eq!(bar.checks, on_day.len() as i64, "{monitor} {}", bar.day);
            assert_eq!(
                bar.up,
                on_day.iter().filter(|r| r.passed).count() as i64,
                "{monitor} {}",
                bar.day
            );
        }
        let trend = monitor_trend(pool, t, "prod", monitor, now, 24)
            .await
            .expect("trend");
        assert_eq!(trend.len(), 24);
        for point in &trend {
            let in_hour = rows
                .iter()
                .filter(|r| {
                    r.monitor == monitor
                        && r.checked_at >= point.hour
                        && r.checked_at < point.hour + TimeDelta::hours(1)
                })
                .count() as i64;
            assert_eq!(point.checks, in_hour, "{monitor} hour {}", point.hour);
        }
    }
    let fleet = fleet_trend(pool, t, now, 24).await.expect("fleet");
    for point in &fleet {
        let in_hour: Vec<&CheckRow> = rows
            .iter()
            .filter(|r| {
                r.checked_at >= point.hour && r.checked_at < point.hour + TimeDelta::hours(1)
            })
            .collect();
        assert_eq!(
            point.checks,
            in_hour.len() as i64,
            "fleet hour {}",
            point.hour
        );
        assert_eq!(
            point.histogram.percentile(0.95),
            expected_percentile(&in_hour, 0.95),
            "fleet p95 hour {}",
            point.hour
        );
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn figures_match_the_rows_before_and_after_the_rollup(pool: PgPool) {
    let now = Utc::now();
    let rows = fixture(now);
    insert_checks(&pool, &rows).await.expect("insert");
    // Provider calls and days, one of each past its retention.
    let provider: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO javari_providers (namespace, name, provider_type) \
         VALUES ('prod', 'openai', 'openai') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("provider");
    sqlx::query(
        "INSERT INTO javari_provider_performance (provider_id, success, created_at) \
         VALUES ($1, true, now() - interval '91 days'), ($1, true, now() - interval '89 days')",
    )
    .bind(provider)
    .execute(&pool)
    .await
    .expect("calls");
    sqlx::query(
        "INSERT INTO javari_provider_days (provider_id, day, fallbacks) \
         VALUES ($1, current_date - 800, 1), ($1, current_date - 10, 2)",
    )
    .bind(provider)
    .execute(&pool)
    .await
    .expect("days");

    // Raw rows only.
    assert_pages_match_rows(&pool, &rows, now).await;

    let report = rollup_once(&pool, now, Retention::default())
        .await
        .expect("rollup")
        .expect("the lock is free");
    assert!(report.hours >= 90, "{report:?}");
    assert!(report.days >= 3, "{report:?}");
    assert!(report.raw_pruned > 0, "{report:?}");
    assert_eq!(
        (report.provider_calls_pruned, report.provider_days_pruned),
        (1, 1),
        "Provider calls older than 90 days and days older than two years are pruned"
    );
    let calls: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_provider_performance")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(calls, 1, "the 89-day-old call stays");
    let t = tiers(&pool).await.expect("tiers");
    let hourly_until = t.hourly_until.expect("hourly watermark");
    assert!(hourly_until <= now && now - hourly_until < TimeDelta::minutes(63));
    assert_eq!(t.daily_until, Some(hourly_until.date_naive()));
    let old_raw: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_health_checks WHERE checked_at < now() - interval '48 hours'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(old_raw, 0, "raw rows older than 48 h are pruned");
    let old_hourly: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_health_check_hourly WHERE hour < now() - interval '90 days'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(old_hourly, 0, "hourly rows older than 90 days are pruned");
    let days: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT day FROM javari_health_check_daily WHERE monitor_name = 'web' AND day < $1 ORDER BY day",
    )
    .bind((now - TimeDelta::days(30)).date_naive())
    .fetch_all(&pool)
    .await
    .expect("days");
    assert_eq!(
        days,
        vec![(now - TimeDelta::days(100)).date_naive()],
        "the 100-day-old check stays as a daily row, the 800-day-old one is pruned"
    );

    // Across the rollup boundary: hourly and daily rows plus the raw rows after them.
    let kept: Vec<CheckRow> = rows
        .into_iter()
        .filter(|r| now - r.checked_at < TimeDelta::days(700))
        .collect();
    assert_pages_match_rows(&pool, &kept, now).await;

    // Again: nothing new to roll up, the same figures.
    let again = rollup_once(&pool, now, Retention::default())
        .await
        .expect("rollup")
        .expect("lock");
    assert_eq!((again.hours, again.days, again.raw_pruned), (0, 0, 0));
    assert_pages_match_rows(&pool, &kept, now).await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn one_replica_at_a_time(pool: PgPool) {
    let now = Utc::now();
    insert_checks(&pool, &fixture(now)).await.expect("insert");
    let mut other = pool.acquire().await.expect("conn");
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(ROLLUP_LOCK)
        .fetch_one(&mut *other)
        .await
        .expect("lock");
    assert!(held);
    assert_eq!(
        rollup_once(&pool, now, Retention::default())
            .await
            .expect("rollup"),
        None,
        "another replica holds the lock: this run skips"
    );
    assert_eq!(tiers(&pool).await.expect("tiers").hourly_until, None);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ROLLUP_LOCK)
        .execute(&mut *other)
        .await
        .expect("unlock");
    assert!(
        rollup_once(&pool, now, Retention::default())
            .await
            .expect("rollup")
            .is_some()
    );
}
