//! When a Monitor checks and how long one check may take, judged one way: an interval, a
//! cron schedule or a timeout that cannot be used is an error naming the field, never a
//! silent default.

use std::time::Duration;

use croner::parser::{CronParser, Seconds};
use javari_crds::duration::parse_duration;

/// Time between checks when a Monitor sets neither interval nor schedule.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest interval a check may run at (the CRD refuses less; older objects too).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How often checks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Every {
    Interval(Duration),
    /// A six-field cron expression (seconds first), in UTC.
    Cron(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    pub every: Every,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CadenceError {
    #[error("spec.interval {value:?}: {reason}")]
    Interval { value: String, reason: String },
    #[error("spec.schedule {value:?}: {reason}")]
    Schedule { value: String, reason: String },
    #[error("spec.request.timeout {value:?}: {reason}")]
    Timeout { value: String, reason: String },
}

/// The cadence of a Monitor with these fields (`schedule` wins over `interval`, as the CRD
/// documents); five-field cron gets a leading `0` seconds field.
pub fn cadence(
    interval: Option<&str>,
    schedule: Option<&str>,
    timeout: &str,
) -> Result<Cadence, CadenceError> {
    let every = match (interval, schedule) {
        (_, Some(cron)) => {
            let fields = cron.split_whitespace().count();
            let six = if fields == 5 {
                format!("0 {}", cron.trim())
            } else {
                cron.trim().to_owned()
            };
            CronParser::builder()
                .seconds(Seconds::Required)
                .build()
                .parse(&six)
                .map_err(|e| CadenceError::Schedule {
                    value: cron.to_owned(),
                    reason: e.to_string(),
                })?;
            Every::Cron(six)
        }
        (Some(text), None) => {
            let every = parse_duration(text).map_err(|e| CadenceError::Interval {
                value: text.to_owned(),
                reason: e.to_string(),
            })?;
            if every < MIN_INTERVAL {
                return Err(CadenceError::Interval {
                    value: text.to_owned(),
                    reason: format!("shorter than the minimum {}s", MIN_INTERVAL.as_secs()),
                });
            }
            Every::Interval(every)
        }
        (None, None) => Every::Interval(DEFAULT_INTERVAL),
    };
    let timeout_value = parse_duration(timeout).map_err(|e| CadenceError::Timeout {
        value: timeout.to_owned(),
        reason: e.to_string(),
    })?;
    // The CRD refuses a timeout not below the interval; objects stored before that rule (or
    // relying on the 10s default with a shorter interval) get a check that ends in time.
    let timeout_value = match every {
        Every::Interval(every) => timeout_value.min(every),
        Every::Cron(_) => timeout_value,
    };
    Ok(Cadence {
        every,
        timeout: timeout_value,
    })
}

/// The first time the six-field `cron` fires strictly after `after`; `None` when it never
/// does again (or does not parse: [`cadence`] refuses those first).
pub fn next_occurrence(
    cron: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(cron)
        .ok()?
        .find_next_occurrence(&after, false)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_defaults() {
        let c = cadence(Some("10s"), None, "2s").expect("valid");
        assert_eq!(c.every, Every::Interval(Duration::from_secs(10)));
        assert_eq!(c.timeout, Duration::from_secs(2));
        let d = cadence(None, None, "5s").expect("default");
        assert_eq!(d.every, Every::Interval(DEFAULT_INTERVAL));
    }

    #[test]
    fn five_field_cron_gets_seconds() {
        let c = cadence(None, Some("*/5 * * * *"), "5s").expect("valid cron");
        assert_eq!(c.every, Every::Cron("0 */5 * * * *".to_owned()));
        let six = cadence(Some("1m"), Some("*/10 * * * * *"), "5s").expect("schedule wins");
        assert_eq!(six.every, Every::Cron("*/10 * * * * *".to_owned()));
    }

    #[test]
    fn next_occurrence_follows_the_seconds_field() {
        use chrono::TimeZone;
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 12, 0, 7)
            .single()
            .expect("time");
        let next = next_occurrence("*/10 * * * * *", at).expect("fires");
        assert_eq!(next, at + chrono::TimeDelta::seconds(3));
        assert_eq!(next_occurrence("not cron", at), None);
    }

    #[test]
    fn unusable_fields_are_named() {
        let bad_cron = cadence(None, Some("every monday"), "5s").expect_err("bad cron");
        assert!(
            bad_cron.to_string().starts_with("spec.schedule"),
            "{bad_cron}"
        );
        let bad_interval = cadence(Some("soon"), None, "5s").expect_err("bad interval");
        assert!(bad_interval.to_string().starts_with("spec.interval"));
        let too_fast = cadence(Some("10ms"), None, "1ms").expect_err("below the floor");
        assert!(too_fast.to_string().contains("minimum"));
        let bad_timeout = cadence(Some("5s"), None, "later").expect_err("bad timeout");
        assert!(bad_timeout.to_string().starts_with("spec.request.timeout"));
        let slow = cadence(Some("5s"), None, "1h").expect("clamped");
        assert_eq!(
            slow.timeout,
            Duration::from_secs(5),
            "a check ends before the next"
        );
    }
}
