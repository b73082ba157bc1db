//! Component states in Statuspage's model (operational, degraded performance, partial outage,
//! major outage, under maintenance) derived from what the operator reports, and the page's
//! overall indicator (none, minor, major, critical).

use javari_crds::common::Health;
use javari_crds::monitor::MonitorState;
use javari_crds::provider::ProviderHealth;
use serde::Serialize;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// Shields/badge colour.
    pub fn color(self) -> &'static str {
        match self {
            Self::Operational => "#2e7d32",
            Self::UnderMaintenance => "#1565c0",
            Self::DegradedPerformance => "#b26a00",
            Self::PartialOutage => "#d84315",
            Self::MajorOutage => "#b3261e",
        }
    }
}

/// What the operator knows about a Monitor, enough to place it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorFacts {
    pub state: MonitorState,
    pub suspended: bool,
    /// Failing now, below the failure threshold (not yet Down).
    pub consecutive_failures: i32,
    pub p95_ms: Option<i64>,
    pub warning_ms: Option<i64>,
    pub critical_ms: Option<i64>,
}

/// Down is a major outage; failing but not yet Down a partial one; slower than the warning
/// (p95) degraded performance; suspended under maintenance.
pub fn monitor_state(f: MonitorFacts) -> ComponentState {
    if f.suspended || f.state == MonitorState::Suspended {
        return ComponentState::UnderMaintenance;
    }
    match f.state {
        MonitorState::Down => ComponentState::MajorOutage,
        _ if f.consecutive_failures > 0 => ComponentState::PartialOutage,
        _ => match (f.p95_ms, f.critical_ms, f.warning_ms) {
            (Some(p95), Some(critical), _) if p95 > critical => ComponentState::PartialOutage,
            (Some(p95), _, Some(warning)) if p95 > warning => ComponentState::DegradedPerformance,
            _ => ComponentState::Operational,
        },
    }
}

pub fn project_state(h: Health) -> ComponentState {
    match h {
        Health::Healthy => ComponentState::Operational,
        Health::Progressing | Health::Unknown => ComponentState::DegradedPerformance,
        Health::Suspended => ComponentState::UnderMaintenance,
        Health::Degraded => ComponentState::PartialOutage,
        Health::Missing => ComponentState::MajorOutage,
    }
}

pub fn provider_state(h: ProviderHealth, enabled: bool) -> ComponentState {
    if !enabled {
        return ComponentState::UnderMaintenance;
    }
    match h {
        ProviderHealth::Operational => ComponentState::Operational,
        ProviderHealth::Degraded | ProviderHealth::Unknown => ComponentState::DegradedPerformance,
        ProviderHealth::Down => ComponentState::MajorOutage,
    }
}

/// Statuspage's page indicator.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn description(self) -> &'static str {
        match self {
            Self::None => "All Systems Operational",
            Self::Minor => "Minor Service Outage",
            Self::Major => "Partial System Outage",
            Self::Critical => "Major System Outage",
        }
    }
}

/// The worst component decides: degraded → minor, partial → major, major → critical.
pub fn indicator(states: impl IntoIterator<Item = ComponentState>) -> Indicator {
    match states.into_iter().max() {
        Some(ComponentState::MajorOutage) => Indicator::Critical,
        Some(ComponentState::PartialOutage) => Indicator::Major,
        Some(ComponentState::DegradedPerformance) => Indicator::Minor,
        _ => Indicator::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: MonitorState) -> MonitorFacts {
        MonitorFacts {
            state,
            suspended: false,
            consecutive_failures: 0,
            p95_ms: Some(100),
            warning_ms: Some(500),
            critical_ms: Some(1000),
        }
    }

    #[test]
    fn monitors_map_to_statuspage_states() {
        assert_eq!(
            monitor_state(facts(MonitorState::Up)),
            ComponentState::Operational
        );
        assert_eq!(
            monitor_state(facts(MonitorState::Down)),
            ComponentState::MajorOutage
        );
        let failing = MonitorFacts {
            consecutive_failures: 1,
            ..facts(MonitorState::Up)
        };
        assert_eq!(monitor_state(failing), ComponentState::PartialOutage);
        let slow = MonitorFacts {
            p95_ms: Some(600),
            ..facts(MonitorState::Up)
        };
        assert_eq!(monitor_state(slow), ComponentState::DegradedPerformance);
        let very_slow = MonitorFacts {
            p95_ms: Some(1200),
            ..facts(MonitorState::Up)
        };
        assert_eq!(monitor_state(very_slow), ComponentState::PartialOutage);
        let paused = MonitorFacts {
            suspended: true,
            ..facts(MonitorState::Down)
        };
        assert_eq!(monitor_state(paused), ComponentState::UnderMaintenance);
    }

    #[test]
    fn the_worst_component_sets_the_indicator() {
        assert_eq!(indicator([]), Indicator::None);
        assert_eq!(
            indicator([
                ComponentState::Operational,
                ComponentState::UnderMaintenance
            ]),
            Indicator::None
        );
        assert_eq!(
            indicator([
                ComponentState::Operational,
                ComponentState::DegradedPerformance
            ]),
            Indicator::Minor
        );
        assert_eq!(
            indicator([ComponentState::PartialOutage, ComponentState::Operational]),
            Indicator::Major
        );
        assert_eq!(
            indicator([ComponentState::MajorOutage, ComponentState::PartialOutage]),
            Indicator::Critical
        );
        assert_eq!(Indicator::None.description(), "All Systems Operational");
    }

    #[test]
    fn projects_and_providers() {
        assert_eq!(project_state(Health::Healthy), ComponentState::Operational);
        assert_eq!(
            project_state(Health::Degraded),
            ComponentState::PartialOutage
        );
        assert_eq!(project_state(Health::Missing), ComponentState::MajorOutage);
        assert_eq!(
            provider_state(ProviderHealth::Down, true),
            ComponentState::MajorOutage
        );
        assert_eq!(
            provider_state(ProviderHealth::Down, false),
            ComponentState::UnderMaintenance
        );
        assert_eq!(
            provider_state(ProviderHealth::from_db_text(Some("Degraded")), true),
            ComponentState::DegradedPerformance
        );
        // The operator stores the lower-case form; the status page reads it as the same health.
        assert_eq!(
            ProviderHealth::from_db_text(Some(&ProviderHealth::Operational.db_text())),
            ProviderHealth::Operational
        );
        assert_eq!(
            ProviderHealth::from_db_text(Some("down")),
            ProviderHealth::Down
        );
        assert_eq!(
            ProviderHealth::from_db_text(Some("bogus")),
            ProviderHealth::Unknown
        );
    }
}
