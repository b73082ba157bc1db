//! Standard Kubernetes conditions: `lastTransitionTime` moves only when a condition flips.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The desired state of one condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> Desired<'a> {
    pub fn new(type_: &'a str, status: bool, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Sets `desired` in `conditions`, keeping the previous transition time when the status is
/// unchanged; other condition types are left alone.
pub fn set(
    conditions: &mut Vec<Condition>,
    desired: Desired<'_>,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if desired.status { "True" } else { "False" }.to_owned();
    let existing = conditions.iter_mut().find(|c| c.type_ == desired.type_);
    let transition = match &existing {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => crate::time::to_k8s(now),
    };
    let condition = Condition {
        type_: desired.type_.to_owned(),
        status,
        reason: desired.reason.to_owned(),
        message: desired.message,
        observed_generation: generation,
        last_transition_time: transition,
    };
    match existing {
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
}

/// Whether the condition `type_` is currently `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn transition_time_moves_only_on_flips() {
        let t0 = Utc::now();
        let t1 = t0 + TimeDelta::seconds(10);
        let t2 = t0 + TimeDelta::seconds(20);
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            Desired::new("Ready", false, "Waiting", "a"),
            Some(1),
            t0,
        );
        set(
            &mut conditions,
            Desired::new("Ready", false, "Waiting", "b"),
            Some(2),
            t1,
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, crate::time::to_k8s(t0));
        assert_eq!(conditions[0].message, "b");
        assert_eq!(conditions[0].observed_generation, Some(2));
        set(
            &mut conditions,
            Desired::new("Ready", true, "Done", "c"),
            Some(2),
            t2,
        );
        assert_eq!(conditions[0].last_transition_time, crate::time::to_k8s(t2));
        assert!(is_true(&conditions, "Ready"));
        set(
            &mut conditions,
            Desired::new("Degraded", false, "Ok", ""),
            Some(2),
            t2,
        );
        assert_eq!(conditions.len(), 2);
        assert!(!is_true(&conditions, "Degraded"));
    }
}
