//! Reading the history: a window's uptime and percentiles, day bars and hourly trends, each
//! assembled from the three tiers without counting a check twice. Raw rows cover what the
//! rollups have not reached (`hourly_until`); hourly rows cover whole hours before it; daily
//! rows whole days before `daily_until`. A window whose start falls before `hourly_until`
//! starts at the top of that hour (rollups hold whole hours): [`effective_start`].

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::histogram::{BUCKETS_MS, Histogram};

pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// How far the rollups reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tiers {
    pub hourly_until: Option<DateTime<Utc>>,
    pub daily_until: Option<NaiveDate>,
}

pub async fn tiers(pool: &PgPool) -> Result<Tiers, sqlx::Error> {
    let (hourly_until, daily_until): (Option<DateTime<Utc>>, Option<NaiveDate>) =
        sqlx::query_as("SELECT hourly_until, daily_until FROM javari_health_rollup_state")
            .fetch_one(pool)
            .await?;
    Ok(Tiers {
        hourly_until,
        daily_until,
    })
}

/// Where a window starting at `from` really starts: at `from` when raw rows cover it, else at
/// the top of its hour.
pub fn effective_start(from: DateTime<Utc>, hourly_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match hourly_until {
        Some(until) if from < until => floor_hour(from),
        _ => from,
    }
}

/// The windows pages show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Window {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    #[serde(rename = "90d")]
    Quarter,
}

impl Window {
    pub const ALL: [Window; 5] = [
        Window::Hour,
        Window::Day,
        Window::Week,
        Window::Month,
        Window::Quarter,
    ];

    pub fn duration(self) -> TimeDelta {
        match self {
            Window::Hour => TimeDelta::hours(1),
            Window::Day => TimeDelta::hours(24),
            Window::Week => TimeDelta::days(7),
            Window::Month => TimeDelta::days(30),
            Window::Quarter => TimeDelta::days(90),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
            Window::Quarter => "90d",
        }
    }

    pub fn parse(text: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.label() == text)
    }
}

/// A window's figures for one Monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStats {
    pub checks: i64,
    pub up: i64,
    pub response_sum_ms: i64,
    pub response_count: i64,
    #[serde(skip)]
    pub histogram: Histogram,
}

impl WindowStats {
    /// Passing checks in percent, `None` without checks.
    pub fn uptime(&self) -> Option<f64> {
        (self.checks > 0).then(|| 100.0 * self.up as f64 / self.checks as f64)
    }

    pub fn percentile(&self, q: f64) -> Option<i64> {
        self.histogram.percentile(q)
    }

    pub fn average_ms(&self) -> Option<i64> {
        (self.response_count > 0).then(|| self.response_sum_ms / self.response_count)
    }
}

/// The first midnight at or after `t`.
fn ceil_day(t: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = day_start(t.date_naive());
    if midnight == t {
        t
    } else {
        midnight + TimeDelta::days(1)
    }
}

/// Which rollup rows a window starting at `start` reads: whole days before `daily_until` from
/// the daily rows, the hours around them (the window's first, partial day and the hours
/// since `daily_until`) from the hourly rows, the rest from raw rows. Each tier covers a
/// range the others do not, so no check is counted twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPlan {
    /// Daily rows for `[from, until)` (dates).
    pub daily: Option<(NaiveDate, NaiveDate)>,
    /// Hourly rows for up to two ranges.
    pub hourly: [Option<(DateTime<Utc>, DateTime<Utc>)>; 2],
    /// Raw rows from here on.
    pub raw_from: DateTime<Utc>,
}

pub fn tier_plan(start: DateTime<Utc>, tiers: Tiers) -> TierPlan {
    let raw_from = tiers.hourly_until.map_or(start, |u| start.max(u));
    let Some(hourly_until) = tiers.hourly_until.filter(|u| start < *u) else {
        return TierPlan {
            daily: None,
            hourly: [None, None],
            raw_from,
        };
    };
    let daily_from = ceil_day(start);
    match tiers
        .daily_until
        .map(day_start)
        .filter(|until| daily_from < *until && *until <= hourly_until)
    {
        Some(daily_until) => TierPlan {
            daily: Some((daily_from.date_naive(), daily_until.date_naive())),
            hourly: [
                (start < daily_from).then_some((start, daily_from)),
                (daily_until < hourly_until).then_some((daily_until, hourly_until)),
            ],
            raw_from,
        },
        None => TierPlan {
            daily: None,
            hourly: [Some((start, hourly_until)), None],
            raw_from,
        },
    }
}

/// Uptime and response times of `ns/name` over the `window` ending at `now`.
pub async fn window_stats(
    pool: &PgPool,
    tiers: Tiers,
    ns: &str,
    name: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Result<WindowStats, sqlx::Error> {
    let mut all = windows_stats(pool, tiers, ns, name, now, &[window]).await?;
    Ok(all.pop().unwrap_or_default())
}

/// Window, checks, passing, response sum, timed checks, raw histogram bucket, rollup histogram.
type WindowPart = (i32, i64, i64, i64, i64, Option<i32>, Option<Vec<i32>>);

/// Uptime and response times of `ns/name` over each of `windows` ending at `now`, in one
/// query: each window's daily, hourly and raw ranges ([`tier_plan`]) are joined to the
/// three tables (their primary keys lead with the Monitor and the time), so a 90-day window
/// reads about 90 daily rows, a day of hourly rows and the raw rows since the last rollup.
pub async fn windows_stats(
    pool: &PgPool,
    tiers: Tiers,
    ns: &str,
    name: &str,
    now: DateTime<Utc>,
    windows: &[TimeDelta],
) -> Result<Vec<WindowStats>, sqlx::Error> {
    let (mut daily_i, mut daily_from, mut daily_until) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hourly_i, mut hourly_from, mut hourly_until) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raw_i, mut raw_from) = (Vec::new(), Vec::new());
    for (i, window) in windows.iter().enumerate() {
        let i = i32::try_from(i).unwrap_or(i32::MAX);
        let plan = tier_plan(effective_start(now - *window, tiers.hourly_until), tiers);
        if let Some((from, until)) = plan.daily {
            daily_i.push(i);
            daily_from.push(from);
            daily_until.push(until);
        }
        for (from, until) in plan.hourly.into_iter().flatten() {
            hourly_i.push(i);
            hourly_from.push(from);
            hourly_until.push(until);
        }
        raw_i.push(i);
        raw_from.push(plan.raw_from);
    }
    let parts: Vec<WindowPart> = sqlx::query_as(
        "SELECT w.i, t.checks::int8, t.up::int8, t.response_sum_ms::int8, t.response_count::int8, \
                NULL::int4, t.histogram \
         FROM unnest($3::int4[], $4::date[], $5::date[]) AS w(i, lo, hi) \
         JOIN javari_health_check_daily t ON t.monitor_namespace = $1 AND t.monitor_name = $2 \
              AND t.day >= w.lo AND t.day < w.hi \
         UNION ALL \
         SELECT w.i, t.checks::int8, t.up::int8, t.response_sum_ms::int8, t.response_count::int8, \
                NULL::int4, t.histogram \
         FROM unnest($6::int4[], $7::timestamptz[], $8::timestamptz[]) AS w(i, lo, hi) \
         JOIN javari_health_check_hourly t ON t.monitor_namespace = $1 AND t.monitor_name = $2 \
              AND t.hour >= w.lo AND t.hour < w.hi \
         UNION ALL \
         SELECT w.i, count(*), count(*) FILTER (WHERE t.status = 'up'), \
                coalesce(sum(t.response_time_ms), 0)::int8, count(t.response_time_ms), \
                width_bucket(t.response_time_ms, $11::int[]), NULL::int4[] \
         FROM unnest($9::int4[], $10::timestamptz[]) AS w(i, lo) \
         JOIN javari_health_checks t ON t.monitor_namespace = $1 AND t.monitor_name = $2 \
              AND t.checked_at >= w.lo AND t.checked_at >= $12 \
         GROUP BY w.i, 6",
    )
    .bind(ns)
    .bind(name)
    .bind(&daily_i)
    .bind(&daily_from)
    .bind(&daily_until)
    .bind(&hourly_i)
    .bind(&hourly_from)
    .bind(&hourly_until)
    .bind(&raw_i)
    .bind(&raw_from)
    .bind(BUCKETS_MS.to_vec())
    // The earliest raw start as a plain bound too, so the index range starts there (without
    // it every raw row of the Monitor is read once per window, and the planner goes parallel).
    .bind(raw_from.iter().min().copied().unwrap_or(now))
    .fetch_all(pool)
    .await?;
    let mut all: Vec<WindowStats> = windows
        .iter()
        .map(|_| WindowStats {
            histogram: Histogram::empty(),
            ..WindowStats::default()
        })
        .collect();
    for (i, checks, up, sum, count, bucket, histogram) in parts {
        let Some(stats) = usize::try_from(i).ok().and_then(|i| all.get_mut(i)) else {
            continue;
        };
        stats.checks += checks;
        stats.up += up;
        stats.response_sum_ms += sum;
        stats.response_count += count;
        match histogram {
            Some(h) => {
                let counts: Vec<i64> = h.into_iter().map(i64::from).collect();
                stats.histogram.add_counts(&counts);
            }
            None => {
                if let Some(b) = bucket
                    .and_then(|b| usize::try_from(b).ok())
                    .filter(|b| *b >= 1)
                    && let Some(slot) = stats.histogram.0.get_mut(b - 1)
                {
                    *slot += count;
                }
            }
        }
    }
    Ok(all)
}

/// One day of a Monitor's uptime bar (UTC dates).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayBar {
    pub day: NaiveDate,
    pub checks: i64,
    pub up: i64,
}

impl DayBar {
    pub fn uptime(&self) -> Option<f64> {
        (self.checks > 0).then(|| 100.0 * self.up as f64 / self.checks as f64)
    }
}

/// The last `days` days up to today (oldest first), from daily, hourly and raw rows.
pub async fn day_bars(
    pool: &PgPool,
    tiers: Tiers,
    ns: &str,
    name: &str,
    now: DateTime<Utc>,
    days: i64,
) -> Result<Vec<DayBar>, sqlx::Error> {
    let today = now.date_naive();
    let first = today - TimeDelta::days(days - 1);
    // Daily rows for whole days before `daily_until`, hourly rows from there to
    // `hourly_until`, raw rows after: three ranges that do not overlap, in one query (a
    // range left out has NULL bounds and matches nothing).
    let daily = tiers.daily_until.filter(|d| *d > first);
    let hourly_from = daily.map_or(day_start(first), day_start);
    let hourly_until = tiers.hourly_until.filter(|u| *u > hourly_from);
    let raw_from = hourly_until.unwrap_or(hourly_from);
    let rows: Vec<(NaiveDate, i64, i64)> = sqlx::query_as(
        "SELECT day, checks::int8, up::int8 FROM javari_health_check_daily \
         WHERE monitor_namespace = $1 AND monitor_name = $2 AND day >= $3 AND day < $4 \
         UNION ALL \
         SELECT (hour AT TIME ZONE 'UTC')::date, sum(checks)::int8, sum(up)::int8 FROM javari_health_check_hourly \
         WHERE monitor_namespace = $1 AND monitor_name = $2 AND hour >= $5 AND hour < $6 GROUP BY 1 \
         UNION ALL \
         SELECT (checked_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE status = 'up') \
         FROM javari_health_checks WHERE monitor_namespace = $1 AND monitor_name = $2 AND checked_at >= $7 GROUP BY 1",
    )
    .bind(ns)
    .bind(name)
    .bind(first)
    .bind(daily)
    .bind(hourly_from)
    .bind(hourly_until)
    .bind(raw_from)
    .fetch_all(pool)
    .await?;
    let mut counts: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
    for (day, checks, up) in rows {
        let slot = counts.entry(day).or_default();
        slot.0 += checks;
        slot.1 += up;
    }
    Ok((0..days)
        .map(|i| {
            let day = first + TimeDelta::days(i);
            let (checks, up) = counts.get(&day).copied().unwrap_or_default();
            DayBar { day, checks, up }
        })
        .collect())
}

/// Hour, histogram bucket (1-based), checks, passing, timed checks.
type RawHourBucket = (DateTime<Utc>, Option<i32>, i64, i64, i64);

/// One hour of a trend.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourPoint {
    pub hour: DateTime<Utc>,
    pub checks: i64,
    pub up: i64,
    #[serde(skip)]
    pub histogram: Histogram,
}

impl HourPoint {
    pub fn uptime(&self) -> Option<f64> {
        (self.checks > 0).then(|| 100.0 * self.up as f64 / self.checks as f64)
    }

    fn empty(hour: DateTime<Utc>) -> Self {
        HourPoint {
            hour,
            checks: 0,
            up: 0,
            histogram: Histogram::empty(),
        }
    }

    fn add(&mut self, other: &HourPoint) {
        self.checks += other.checks;
        self.up += other.up;
        self.histogram.add(&other.histogram);
    }
}

/// Sums per hour.
pub(super) type Hours = BTreeMap<DateTime<Utc>, HourPoint>;

fn hour_slot(hours: &mut Hours, hour: DateTime<Utc>) -> &mut HourPoint {
    hours.entry(hour).or_insert_with(|| HourPoint::empty(hour))
}

/// The first `hours` hours from `first`, empty.
pub(super) fn empty_hours(first: DateTime<Utc>, hours: i64) -> Hours {
    (0..hours)
        .map(|i| {
            let hour = first + TimeDelta::hours(i);
            (hour, HourPoint::empty(hour))
        })
        .collect()
}

/// Adds `part` into the hours `points` has (others are outside the trend).
pub(super) fn merge_hours(points: &mut Hours, part: &Hours) {
    for (hour, p) in part {
        if let Some(slot) = points.get_mut(hour) {
            slot.add(p);
        }
    }
}

/// Hourly rows of `[from, until)` summed per hour, of one Monitor or of all.
pub(super) async fn hourly_hours(
    pool: &PgPool,
    monitor: Option<(&str, &str)>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Hours, sqlx::Error> {
    let (ns, name) = monitor.map_or((None, None), |(ns, name)| (Some(ns), Some(name)));
    let mut hours = Hours::new();
    // One Monitor's rows by its key, every Monitor's by the hour: two statements, so each
    // keeps a good cached plan (an `$3 IS NULL OR ...` filter plans as a scan of every row).
    let sums: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(if monitor.is_some() {
        "SELECT hour, sum(checks)::int8, sum(up)::int8 FROM javari_health_check_hourly \
         WHERE hour >= $1 AND hour < $2 AND monitor_namespace = $3 AND monitor_name = $4 \
         GROUP BY hour"
    } else {
        "SELECT hour, sum(checks)::int8, sum(up)::int8 FROM javari_health_check_hourly \
         WHERE hour >= $1 AND hour < $2 AND $3::text IS NULL AND $4::text IS NULL \
         GROUP BY hour"
    })
    .bind(from)
    .bind(until)
    .bind(ns)
    .bind(name)
    .fetch_all(pool)
    .await?;
    for (hour, checks, up) in sums {
        let p = hour_slot(&mut hours, hour);
        p.checks += checks;
        p.up += up;
    }
    let buckets: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(if monitor.is_some() {
        "SELECT hour, i, sum(c)::int8 FROM javari_health_check_hourly, unnest(histogram) WITH ORDINALITY AS u(c, i) \
         WHERE hour >= $1 AND hour < $2 AND monitor_namespace = $3 AND monitor_name = $4 \
         GROUP BY hour, i"
    } else {
        "SELECT hour, i, sum(c)::int8 FROM javari_health_check_hourly, unnest(histogram) WITH ORDINALITY AS u(c, i) \
         WHERE hour >= $1 AND hour < $2 AND $3::text IS NULL AND $4::text IS NULL \
         GROUP BY hour, i"
    })
    .bind(from)
    .bind(until)
    .bind(ns)
    .bind(name)
    .fetch_all(pool)
    .await?;
    for (hour, i, count) in buckets {
        let p = hour_slot(&mut hours, hour);
        if let Some(slot) = usize::try_from(i - 1)
            .ok()
            .and_then(|i| p.histogram.0.get_mut(i))
        {
            *slot += count;
        }
    }
    Ok(hours)
}

/// Raw rows checked in `[from, until)` (no end with `None`) summed per hour.
pub(super) async fn raw_hours(
    pool: &PgPool,
    monitor: Option<(&str, &str)>,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<Hours, sqlx::Error> {
    let (ns, name) = monitor.map_or((None, None), |(ns, name)| (Some(ns), Some(name)));
    let raw: Vec<RawHourBucket> = sqlx::query_as(if monitor.is_some() {
        "SELECT date_trunc('hour', checked_at), width_bucket(response_time_ms, $2::int[]), count(*), \
                count(*) FILTER (WHERE status = 'up'), count(response_time_ms) \
         FROM javari_health_checks WHERE checked_at >= $1 AND checked_at < coalesce($5, 'infinity') \
           AND monitor_namespace = $3 AND monitor_name = $4 \
         GROUP BY 1, 2"
    } else {
        "SELECT date_trunc('hour', checked_at), width_bucket(response_time_ms, $2::int[]), count(*), \
                count(*) FILTER (WHERE status = 'up'), count(response_time_ms) \
         FROM javari_health_checks WHERE checked_at >= $1 AND ($5::timestamptz IS NULL OR checked_at < $5) \
           AND monitor_name IS NOT NULL AND $3::text IS NULL AND $4::text IS NULL \
         GROUP BY 1, 2"
    })
    .bind(from)
    .bind(BUCKETS_MS.to_vec())
    .bind(ns)
    .bind(name)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let mut hours = Hours::new();
    for (hour, bucket, checks, up, timed) in raw {
        let p = hour_slot(&mut hours, hour);
        p.checks += checks;
        p.up += up;
        if let Some(b) = bucket
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b >= 1)
            && let Some(slot) = p.histogram.0.get_mut(b - 1)
        {
            *slot += timed;
        }
    }
    Ok(hours)
}

/// The last `hours` hours (the current one included, oldest first) of one Monitor, or of
/// every Monitor when `monitor` is `None`.
async fn trend(
    pool: &PgPool,
    tiers: Tiers,
    monitor: Option<(&str, &str)>,
    now: DateTime<Utc>,
    hours: i64,
) -> Result<Vec<HourPoint>, sqlx::Error> {
    let first = floor_hour(now) - TimeDelta::hours(hours - 1);
    let mut points = empty_hours(first, hours);
    let mut raw_from = first;
    if let Some(until) = tiers.hourly_until.filter(|u| *u > first) {
        merge_hours(
            &mut points,
            &hourly_hours(pool, monitor, first, until).await?,
        );
        raw_from = until;
    }
    merge_hours(
        &mut points,
        &raw_hours(pool, monitor, raw_from, None).await?,
    );
    Ok(points.into_values().collect())
}

pub async fn monitor_trend(
    pool: &PgPool,
    tiers: Tiers,
    ns: &str,
    name: &str,
    now: DateTime<Utc>,
    hours: i64,
) -> Result<Vec<HourPoint>, sqlx::Error> {
    trend(pool, tiers, Some((ns, name)), now, hours).await
}

/// Every Monitor together: the platform's trend.
pub async fn fleet_trend(
    pool: &PgPool,
    tiers: Tiers,
    now: DateTime<Utc>,
    hours: i64,
) -> Result<Vec<HourPoint>, sqlx::Error> {
    trend(pool, tiers, None, now, hours).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn windows_start_at_the_hour_only_where_rollups_reach() {
        let from = at("2026-11-20T10:25:00Z");
        assert_eq!(effective_start(from, None), from);
        assert_eq!(
            effective_start(from, Some(at("2026-11-20T10:00:00Z"))),
            from
        );
        assert_eq!(
            effective_start(from, Some(at("2026-11-20T12:00:00Z"))),
            at("2026-11-20T10:00:00Z")
        );
    }

    #[test]
    fn a_window_reads_each_range_from_one_tier_only() {
        let tiers = Tiers {
            hourly_until: Some(at("2026-11-20T10:00:00Z")),
            daily_until: Some(NaiveDate::from_ymd_opt(2026, 11, 19).expect("date")),
        };
        let p = tier_plan(at("2026-11-12T10:00:00Z"), tiers);
        assert_eq!(
            p.daily,
            Some((
                NaiveDate::from_ymd_opt(2026, 11, 13).expect("date"),
                NaiveDate::from_ymd_opt(2026, 11, 19).expect("date")
            ))
        );
        assert_eq!(
            p.hourly,
            [
                Some((at("2026-11-12T10:00:00Z"), at("2026-11-13T00:00:00Z"))),
                Some((at("2026-11-19T00:00:00Z"), at("2026-11-20T10:00:00Z")))
            ]
        );
        assert_eq!(p.raw_from, at("2026-11-20T10:00:00Z"));
        // Starting at midnight: no partial first day.
        let p = tier_plan(at("2026-11-12T00:00:00Z"), tiers);
        assert_eq!(p.hourly[0], None);
        // Within the hourly tier only.
        let p = tier_plan(at("2026-11-19T12:00:00Z"), tiers);
        assert_eq!(p.daily, None);
        assert_eq!(
            p.hourly,
            [
                Some((at("2026-11-19T12:00:00Z"), at("2026-11-20T10:00:00Z"))),
                None
            ]
        );
        // Within the raw rows only.
        let p = tier_plan(at("2026-11-20T10:30:00Z"), tiers);
        assert_eq!((p.daily, p.hourly), (None, [None, None]));
        assert_eq!(p.raw_from, at("2026-11-20T10:30:00Z"));
    }

    #[test]
    fn window_labels_round_trip() {
        for w in Window::ALL {
            assert_eq!(Window::parse(w.label()), Some(w));
        }
        assert_eq!(Window::parse("2h"), None);
        assert_eq!(Window::Quarter.duration(), TimeDelta::days(90));
    }
}
