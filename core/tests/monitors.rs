//! Monitor storage on a real PostgreSQL: batched check rows, the uptime and percentile
//! figures computed from them, and one incident per outage with its timeline.

use chrono::{TimeDelta, Utc};
use javari_core::monitors::{
    CheckRow, insert_checks, latency_stats, open_incident, resolve_incident, uptime, uptime_windows,
};
use javari_crds::common::Severity;
use sqlx::PgPool;

fn row(i: i32, passed: bool) -> CheckRow {
    CheckRow {
        namespace: "prod".into(),
        monitor: "web".into(),
        target: "https://javariai.com/api/health".into(),
        passed,
        response_time_ms: Some(i),
        status_code: Some(if passed { 200 } else { 503 }),
        error: (!passed).then(|| "[STATUS] == 200 failed".to_owned()),
        checked_at: Utc::now() - TimeDelta::seconds(i64::from(i)),
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn checks_are_batched_and_summarised(pool: PgPool) {
    // 100 checks with response times 1..=100 ms, of which 4 failed.
    let rows: Vec<CheckRow> = (1..=100).map(|i| row(i, i % 25 != 0)).collect();
    assert_eq!(insert_checks(&pool, &rows).await.expect("insert"), 100);
    let up = uptime(&pool, "prod", "web", TimeDelta::hours(24))
        .await
        .expect("uptime")
        .expect("some checks");
    assert!((up - 96.0).abs() < 1e-9, "{up}");
    let stats = latency_stats(&pool, "prod", "web", TimeDelta::hours(24))
        .await
        .expect("stats")
        .expect("some");
    assert_eq!(
        (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.checks),
        (51, 95, 99, 100)
    );
    // Figures follow the window: only the last 10 seconds of checks.
    let recent = latency_stats(&pool, "prod", "web", TimeDelta::milliseconds(10_500))
        .await
        .expect("stats")
        .expect("some");
    assert!(recent.checks <= 11 && recent.p99_ms <= 11, "{recent:?}");
    assert_eq!(
        uptime(&pool, "prod", "other", TimeDelta::hours(1))
            .await
            .expect("uptime"),
        None
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn all_uptime_windows_in_one_query_agree_with_each_window(pool: PgPool) {
    // Checks spread over 40 days: one an hour, failing on every fifth hour and throughout
    // the most recent two hours.
    let rows: Vec<CheckRow> = (0..(40 * 24))
        .map(|h| CheckRow {
            checked_at: Utc::now() - TimeDelta::hours(h) - TimeDelta::minutes(1),
            ..row(10, h >= 2 && h % 5 != 0)
        })
        .collect();
    insert_checks(&pool, &rows).await.expect("insert");
    let windows = uptime_windows(&pool, "prod", "web").await.expect("windows");
    for (got, hours) in [
        (windows.last_1h, 1),
        (windows.last_24h, 24),
        (windows.last_7d, 24 * 7),
        (windows.last_30d, 24 * 30),
    ] {
        let each = uptime(&pool, "prod", "web", TimeDelta::hours(hours))
            .await
            .expect("uptime");
        assert_eq!(got, each, "window of {hours} h");
    }
    assert_eq!(windows.last_1h, Some(0.0), "the last hour failed");
    assert!(
        windows.last_30d.is_some_and(|u| u > 75.0 && u < 80.0),
        "{windows:?}"
    );
    let none = uptime_windows(&pool, "prod", "other")
        .await
        .expect("windows");
    assert_eq!(none, Default::default());
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn one_incident_per_outage(pool: PgPool) {
    let source = ("monitor", "prod", "web");
    let key = "monitor/prod/web";
    let first = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P1,
        source,
        Some("api-down"),
        "3 checks failed",
    )
    .await
    .expect("open");
    let again = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P1,
        source,
        Some("api-down"),
        "still failing",
    )
    .await
    .expect("recur");
    assert_eq!(first, again, "the same outage joins the open incident");
    let (occurrences, status): (i32, String) =
        sqlx::query_as("SELECT occurrences, status FROM javari_incidents WHERE id = $1")
            .bind(first)
            .fetch_one(&pool)
            .await
            .expect("incident");
    assert_eq!((occurrences, status.as_str()), (2, "triage"));

    assert_eq!(
        resolve_incident(&pool, key, "2 checks passed")
            .await
            .expect("resolve"),
        Some(first)
    );
    assert_eq!(
        resolve_incident(&pool, key, "again").await.expect("noop"),
        None,
        "nothing left to resolve"
    );
    let timeline: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM javari_incident_events WHERE incident_id = $1 ORDER BY id",
    )
    .bind(first)
    .fetch_all(&pool)
    .await
    .expect("timeline");
    assert_eq!(timeline, ["opened", "recurred", "resolved"]);

    let next = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P1,
        source,
        None,
        "down again",
    )
    .await
    .expect("open");
    assert_ne!(next, first, "a new outage is a new incident");
}
