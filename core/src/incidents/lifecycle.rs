//! An incident's states and the moves between them (incident.io's and Rootly's lifecycle):
//! triage → investigating → identified → monitoring → resolved → closed, or declined / merged.
//! Pure: the store checks every change here before it writes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use javari_crds::common::Severity;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Raised (by a Monitor or a person), not yet looked at.
    Triage,
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is in; watching that it holds.
    Monitoring,
    Resolved,
    /// Resolved and reviewed (postmortem done).
    Closed,
    /// Not an incident after all.
    Declined,
    /// A duplicate, folded into another incident.
    Merged,
}

/// Who asks for a change: a person, or Javari itself (a Monitor recovering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mover {
    Person,
    Automation,
}

impl IncidentStatus {
    pub const ALL: [Self; 8] = [
        Self::Triage,
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Closed,
        Self::Declined,
        Self::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triage => "triage",
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Declined => "declined",
            Self::Merged => "merged",
        }
    }

    /// Still needs someone: counted as open, deduplicated by key.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Triage | Self::Investigating | Self::Identified | Self::Monitoring
        )
    }

    /// Where it may go next. A person may not jump from triage to resolved (someone must
    /// look first); a Monitor that recovers may, since nobody needed to act.
    pub fn next(self, mover: Mover) -> &'static [Self] {
        use IncidentStatus::*;
        match (self, mover) {
            (Triage, Mover::Person) => &[Investigating, Declined, Merged],
            (Triage, Mover::Automation) => &[Investigating, Resolved],
            (Investigating, _) => &[Identified, Monitoring, Resolved, Merged],
            (Identified, _) => &[Investigating, Monitoring, Resolved, Merged],
            (Monitoring, _) => &[Investigating, Identified, Resolved],
            (Resolved, Mover::Person) => &[Closed, Investigating],
            (Resolved, Mover::Automation) => &[],
            (Closed | Declined | Merged, _) => &[],
        }
    }

    pub fn check(self, to: Self, mover: Mover) -> Result<(), TransitionError> {
        if self.next(mover).contains(&to) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self,
                to,
                allowed: self.next(mover).to_vec(),
            })
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for IncidentStatus {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl FromStr for IncidentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown incident status {s:?}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an incident cannot go from {from} to {to}; from {from} it can go to: {}", list(.allowed))]
pub struct TransitionError {
    pub from: IncidentStatus,
    pub to: IncidentStatus,
    pub allowed: Vec<IncidentStatus>,
}

fn list(statuses: &[IncidentStatus]) -> String {
    if statuses.is_empty() {
        return "nothing (it is final)".to_owned();
    }
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The operations guide's response targets: P0 15 minutes, P1 1 hour, P2 4 hours, P3 the
/// next business day (counted as 24 hours).
pub fn response_target(severity: Severity) -> TimeDelta {
    match severity {
        Severity::P0 => TimeDelta::minutes(15),
        Severity::P1 => TimeDelta::hours(1),
        Severity::P2 => TimeDelta::hours(4),
        Severity::P3 => TimeDelta::hours(24),
    }
}

/// When an acknowledgement is due.
pub fn respond_by(severity: Severity, opened_at: DateTime<Utc>) -> DateTime<Utc> {
    opened_at + response_target(severity)
}

/// The SQL list of open statuses, as the migration's partial unique index names them.
pub const OPEN_STATUSES_SQL: &str = "('triage', 'investigating', 'identified', 'monitoring')";

/// The open statuses, to bind as `status = ANY($n)`.
pub fn open_statuses() -> Vec<&'static str> {
    IncidentStatus::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .map(IncidentStatus::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn the_open_list_matches_is_open() {
        let open: Vec<String> = IncidentStatus::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(OPEN_STATUSES_SQL, format!("({})", open.join(", ")));
    }

    #[test]
    fn people_cannot_skip_triage_to_resolved_but_a_recovery_can() {
        let e = Triage.check(Resolved, Mover::Person).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "an incident cannot go from triage to resolved; from triage it can go to: investigating, declined, merged"
        );
        assert!(Triage.check(Resolved, Mover::Automation).is_ok());
        assert!(Investigating.check(Resolved, Mover::Person).is_ok());
    }

    #[test]
    fn final_states_stay_final_and_resolved_can_reopen_or_close() {
        for s in [Closed, Declined, Merged] {
            for to in IncidentStatus::ALL {
                assert!(s.check(to, Mover::Person).is_err(), "{s} -> {to}");
            }
        }
        assert!(Resolved.check(Closed, Mover::Person).is_ok());
        assert!(Resolved.check(Investigating, Mover::Person).is_ok());
        assert!(Resolved.check(Closed, Mover::Automation).is_err());
        assert!(Monitoring.check(Merged, Mover::Person).is_err());
        assert!(Investigating.check(Investigating, Mover::Person).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in IncidentStatus::ALL {
            assert_eq!(s.as_str().parse::<IncidentStatus>(), Ok(s));
        }
        assert!("open".parse::<IncidentStatus>().is_err());
    }

    #[test]
    fn response_targets_follow_the_operations_guide() {
        let t0 = DateTime::<Utc>::from_timestamp(0, 0).expect("epoch");
        assert_eq!(respond_by(Severity::P0, t0) - t0, TimeDelta::minutes(15));
        assert_eq!(response_target(Severity::P1), TimeDelta::hours(1));
        assert_eq!(response_target(Severity::P2), TimeDelta::hours(4));
        assert_eq!(response_target(Severity::P3), TimeDelta::hours(24));
    }
}
