//! When a source is crawled next: its cron expression (UTC), the guide's daily 02:00 by
//! default.

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// The operations guide's crawl: daily at 2 AM UTC.
pub const DEFAULT_SCHEDULE: &str = "0 2 * * *";
/// Crawls of one source may not be closer than this.
pub const MIN_INTERVAL_MINUTES: i64 = 15;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "invalid schedule {schedule:?}: {reason} (use cron syntax such as \"0 2 * * *\", in UTC)"
    )]
    Invalid { schedule: String, reason: String },
    #[error("schedule {0:?} never fires")]
    Never(String),
    #[error("schedule {0:?} runs more often than every {MIN_INTERVAL_MINUTES} minutes")]
    TooFrequent(String),
}

fn parse(schedule: &str) -> Result<Cron, ScheduleError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(schedule.trim())
        .map_err(|e| ScheduleError::Invalid {
            schedule: schedule.to_owned(),
            reason: e.to_string(),
        })
}

/// Checks a schedule: valid five-field cron, firing, at most every 15 minutes.
pub fn validate(schedule: &str, now: DateTime<Utc>) -> Result<(), ScheduleError> {
    let cron = parse(schedule)?;
    let mut at = now;
    let mut previous: Option<DateTime<Utc>> = None;
    // The shortest gap shows within the next couple of days' occurrences for every
    // practical schedule.
    for _ in 0..100 {
        let next = cron
            .find_next_occurrence(&at, false)
            .map_err(|_| ScheduleError::Never(schedule.to_owned()))?;
        if let Some(p) = previous
            && next - p < TimeDelta::minutes(MIN_INTERVAL_MINUTES)
        {
            return Err(ScheduleError::TooFrequent(schedule.to_owned()));
        }
        previous = Some(next);
        at = next;
    }
    Ok(())
}

/// The first time the schedule fires strictly after `after`.
pub fn next_crawl(schedule: &str, after: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
    parse(schedule)?
        .find_next_occurrence(&after, false)
        .map_err(|_| ScheduleError::Never(schedule.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn the_default_is_daily_at_two_utc() {
        assert_eq!(
            next_crawl(DEFAULT_SCHEDULE, at(2026, 11, 28, 1, 59)),
            Ok(at(2026, 11, 28, 2, 0))
        );
        assert_eq!(
            next_crawl(DEFAULT_SCHEDULE, at(2026, 11, 28, 2, 0)),
            Ok(at(2026, 11, 29, 2, 0)),
            "strictly after: a crawl at 02:00 schedules tomorrow's"
        );
        assert_eq!(
            next_crawl(DEFAULT_SCHEDULE, at(2026, 12, 31, 3, 0)),
            Ok(at(2027, 1, 1, 2, 0))
        );
        assert!(validate(DEFAULT_SCHEDULE, at(2026, 1, 1, 0, 0)).is_ok());
    }

    #[test]
    fn weekly_and_invalid_schedules() {
        // Mondays at 06:30: 2026-11-30 is a Monday.
        assert_eq!(
            next_crawl("30 6 * * MON", at(2026, 11, 28, 12, 0)),
            Ok(at(2026, 11, 30, 6, 30))
        );
        assert!(matches!(
            validate("not cron", at(2026, 1, 1, 0, 0)),
            Err(ScheduleError::Invalid { .. })
        ));
        assert!(matches!(
            validate("0 0 2 * * *", at(2026, 1, 1, 0, 0)),
            Err(ScheduleError::Invalid { .. })
        ));
        assert_eq!(
            validate("*/5 * * * *", at(2026, 1, 1, 0, 0)),
            Err(ScheduleError::TooFrequent("*/5 * * * *".into()))
        );
        assert!(validate("*/15 * * * *", at(2026, 1, 1, 0, 0)).is_ok());
        assert!(validate("0 * * * *", at(2026, 1, 1, 0, 0)).is_ok());
    }
}
