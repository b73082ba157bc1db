//! When to rotate, when a grace period ends, how long to back off. Pure functions of the
//! persisted state (vault and status), so an operator restart changes nothing.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use croner::parser::{CronParser, Seconds};
use javari_crds::credential::RotationPolicy;
use javari_crds::duration::parse_duration;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("invalid rotation schedule {schedule:?}: {reason}")]
    Cron { schedule: String, reason: String },
    #[error("invalid {field}: {reason}")]
    Duration { field: &'static str, reason: String },
    #[error("rotation schedule {0:?} has no future occurrence")]
    NoOccurrence(String),
}

fn to_delta(field: &'static str, text: &str) -> Result<TimeDelta, ScheduleError> {
    let d = parse_duration(text).map_err(|e| ScheduleError::Duration {
        field,
        reason: e.to_string(),
    })?;
    TimeDelta::from_std(d).map_err(|e| ScheduleError::Duration {
        field,
        reason: e.to_string(),
    })
}

/// The next rotation after `last_rotated`: `everyDays` after it, or the schedule's next
/// occurrence after it; brought forward to `expiresAt - renewBefore` when that is sooner.
pub fn next_rotation(
    policy: &RotationPolicy,
    last_rotated: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, ScheduleError> {
    let planned = match (&policy.schedule, policy.every_days) {
        (Some(schedule), _) => {
            let cron = CronParser::builder()
                .seconds(Seconds::Optional)
                .build()
                .parse(schedule)
                .map_err(|e| ScheduleError::Cron {
                    schedule: schedule.clone(),
                    reason: e.to_string(),
                })?;
            cron.find_next_occurrence(&last_rotated, false)
                .map_err(|_| ScheduleError::NoOccurrence(schedule.clone()))?
        }
        (None, Some(days)) => last_rotated + TimeDelta::days(i64::from(days.max(1))),
        (None, None) => return Err(ScheduleError::NoOccurrence(String::new())),
    };
    let renew_at = match (&policy.renew_before, expires_at) {
        (Some(before), Some(expires)) => Some(expires - to_delta("renewBefore", before)?),
        _ => None,
    };
    Ok(renew_at.map_or(planned, |r| r.min(planned)))
}

/// When the previous value stops being served (`previous` leaves the Secret).
pub fn grace_period_end(
    policy: Option<&RotationPolicy>,
    last_rotated: DateTime<Utc>,
) -> Result<DateTime<Utc>, ScheduleError> {
    let grace = policy.map_or("7d", |p| p.grace_period.as_str());
    Ok(last_rotated + to_delta("gracePeriod", grace)?)
}

/// Whether `expires_at` falls within `window` of `now`.
pub fn expiring(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>, window: TimeDelta) -> bool {
    expires_at.is_some_and(|e| e - now <= window)
}

/// Exponential back-off after `failed_attempts` consecutive failures: 5 s, 10 s, 20 s, … 10 min.
pub fn backoff(failed_attempts: i32) -> Duration {
    let exp = u32::try_from(failed_attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(10);
    Duration::from_secs(5u64.saturating_mul(1 << exp)).min(Duration::from_secs(600))
}

/// Identifies a credential version without revealing anything about its value: consumers
/// carry it in a pod-template annotation, so only a new version ever changes it.
pub fn version_hash(credential_uid: &str, version: i32) -> String {
    let digest = Sha256::new()
        .chain_update(credential_uid.as_bytes())
        .chain_update(b":")
        .chain_update(version.to_be_bytes())
        .finalize();
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid time")
    }

    fn every(days: i32) -> RotationPolicy {
        RotationPolicy {
            schedule: None,
            every_days: Some(days),
            grace_period: "7d".into(),
            renew_before: None,
        }
    }

    fn cron(s: &str) -> RotationPolicy {
        RotationPolicy {
            schedule: Some(s.into()),
            every_days: None,
            grace_period: "1h".into(),
            renew_before: None,
        }
    }

    #[test]
    fn every_days_counts_from_the_last_rotation() {
        assert_eq!(
            next_rotation(&every(90), at(2026, 1, 1, 0), None),
            Ok(at(2026, 4, 1, 0))
        );
        assert_eq!(
            next_rotation(&every(180), at(2026, 1, 1, 12), None),
            Ok(at(2026, 6, 30, 12))
        );
    }

    #[test]
    fn cron_takes_the_next_occurrence_after_the_last_rotation() {
        assert_eq!(
            next_rotation(&cron("0 3 * * *"), at(2026, 1, 1, 5), None),
            Ok(at(2026, 1, 2, 3))
        );
        assert_eq!(
            next_rotation(&cron("0 3 1 */3 *"), at(2026, 1, 1, 5), None),
            Ok(at(2026, 4, 1, 3))
        );
        assert_eq!(
            next_rotation(&cron("@daily"), at(2026, 1, 1, 5), None),
            Ok(at(2026, 1, 2, 0))
        );
        let six_fields =
            next_rotation(&cron("30 0 3 * * *"), at(2026, 1, 1, 5), None).expect("seconds");
        assert_eq!(six_fields, at(2026, 1, 2, 3) + TimeDelta::seconds(30));
        assert!(matches!(
            next_rotation(&cron("99 * * * *"), at(2026, 1, 1, 0), None),
            Err(ScheduleError::Cron { .. })
        ));
    }

    #[test]
    fn renew_before_expiry_brings_rotation_forward() {
        let mut p = every(90);
        p.renew_before = Some("7d".into());
        let expires = at(2026, 2, 1, 0);
        assert_eq!(
            next_rotation(&p, at(2026, 1, 1, 0), Some(expires)),
            Ok(at(2026, 1, 25, 0))
        );
        // A far expiry does not postpone the planned rotation.
        assert_eq!(
            next_rotation(&p, at(2026, 1, 1, 0), Some(at(2027, 1, 1, 0))),
            Ok(at(2026, 4, 1, 0))
        );
    }

    #[test]
    fn grace_period_and_expiry_window() {
        assert_eq!(
            grace_period_end(Some(&every(90)), at(2026, 1, 1, 0)),
            Ok(at(2026, 1, 8, 0))
        );
        assert_eq!(
            grace_period_end(None, at(2026, 1, 1, 0)),
            Ok(at(2026, 1, 8, 0))
        );
        assert!(expiring(
            Some(at(2026, 1, 10, 0)),
            at(2026, 1, 1, 0),
            TimeDelta::days(14)
        ));
        assert!(!expiring(
            Some(at(2026, 3, 1, 0)),
            at(2026, 1, 1, 0),
            TimeDelta::days(14)
        ));
        assert!(!expiring(None, at(2026, 1, 1, 0), TimeDelta::days(14)));
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(0).as_secs(), 5);
        assert_eq!(backoff(i32::MAX).as_secs(), 600);
    }

    #[test]
    fn version_hash_changes_with_the_version_only() {
        let a = version_hash("uid-1", 1);
        assert_eq!(a, version_hash("uid-1", 1));
        assert_ne!(a, version_hash("uid-1", 2));
        assert_ne!(a, version_hash("uid-2", 1));
        assert_eq!(a.len(), 16);
    }
}
