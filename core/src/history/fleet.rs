//! The fleet's trend (every Monitor together, per hour), kept in memory between page views so
//! the overview reads neither thousands of rollup rows nor the raw rows of the last hour on
//! every request:
//! - the hourly rows' part is kept until the trend's first hour or the rollups' reach
//!   (`hourly_until`) moves;
//! - the raw rows' part is summed once up to `now - settle` and only the rows checked since
//!   are read again. Like the rollup job (which waits as long past an hour), it assumes checks
//!   are stored within `settle` of being made; a row stored later for a time already summed
//!   counts from when its hour is rolled up.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::sync::Mutex;

use super::query::{
    HourPoint, Hours, Tiers, empty_hours, floor_hour, hourly_hours, merge_hours, raw_hours,
};

/// The trend's first hour and the rollups' reach the hourly sums were read for.
type HourlyKey = (DateTime<Utc>, DateTime<Utc>);

#[derive(Default)]
struct Kept {
    /// The hourly rows' sums, for their key.
    hourly: Option<(HourlyKey, Hours)>,
    /// Raw rows summed up to `until`.
    tail: Option<(DateTime<Utc>, Hours)>,
}

pub struct FleetTrend {
    settle: TimeDelta,
    kept: Mutex<Kept>,
}

impl FleetTrend {
    pub fn new(settle: TimeDelta) -> Self {
        Self {
            settle,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The last `hours` hours of every Monitor (the current one included, oldest first):
    /// the same figures as [`super::fleet_trend`].
    pub async fn trend(
        &self,
        pool: &PgPool,
        tiers: Tiers,
        now: DateTime<Utc>,
        hours: i64,
    ) -> Result<Vec<HourPoint>, sqlx::Error> {
        let first = floor_hour(now) - TimeDelta::hours(hours - 1);
        let mut points = empty_hours(first, hours);
        // One request computes at a time; the others then find its sums.
        let mut kept = self.kept.lock().await;
        let mut raw_from = first;
        if let Some(until) = tiers.hourly_until.filter(|u| *u > first) {
            let key = (first, until);
            let hourly = match kept.hourly.take() {
                Some((k, sums)) if k == key => sums,
                _ => hourly_hours(pool, None, first, until).await?,
            };
            merge_hours(&mut points, &hourly);
            kept.hourly = Some((key, hourly));
            raw_from = until;
        }
        let (mut until, mut tail) = match kept.tail.take() {
            Some((until, mut tail)) if until >= raw_from => {
                // Hours the rollups now hold are read from the hourly rows.
                tail.retain(|hour, _| *hour >= raw_from);
                (until, tail)
            }
            _ => (raw_from, Hours::new()),
        };
        let settled = now - self.settle;
        if settled > until {
            let part = raw_hours(pool, None, until, Some(settled)).await?;
            for (hour, p) in part {
                tail.entry(hour)
                    .and_modify(|slot| {
                        slot.checks += p.checks;
                        slot.up += p.up;
                        slot.histogram.add(&p.histogram);
                    })
                    .or_insert(p);
            }
            until = settled;
        }
        merge_hours(&mut points, &tail);
        merge_hours(&mut points, &raw_hours(pool, None, until, None).await?);
        kept.tail = Some((until, tail));
        Ok(points.into_values().collect())
    }
}
