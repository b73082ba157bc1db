//! Credential status, computed by pure functions from what the reconcile observed.

use chrono::{DateTime, TimeDelta, Utc};
use javari_core::conditions::{Desired, set};
use javari_core::credentials::expiring;
use javari_core::time::to_k8s;
use javari_crds::common::condition::{DEGRADED, EXPIRING, READY, ROTATING};
use javari_crds::credential::{CredentialStatus, RestartRecord};

/// How much restart history status keeps.
const RESTART_HISTORY: usize = 20;
/// Expiry warnings start this long before `expiresAt` when no `renewBefore` is set.
pub const DEFAULT_EXPIRY_WINDOW: TimeDelta = TimeDelta::days(14);

/// What a successful reconcile found.
pub struct Observed {
    pub version: i32,
    pub content_hash: String,
    pub secret_name: String,
    pub last_rotated_at: DateTime<Utc>,
    pub next_rotation_at: Option<DateTime<Utc>>,
    /// Set while `previous` is served.
    pub grace_period_ends_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expiry_window: TimeDelta,
    pub rotate_request: Option<String>,
    pub restarts: Vec<RestartRecord>,
    /// A rotation is due but the source cannot produce a value by itself (external).
    pub rotation_waiting: Option<String>,
}

pub fn ready(
    prev: &CredentialStatus,
    generation: Option<i64>,
    obs: Observed,
    now: DateTime<Utc>,
) -> CredentialStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    s.version = Some(i64::from(obs.version));
    s.content_hash = Some(obs.content_hash);
    s.secret_name = Some(obs.secret_name.clone());
    s.last_rotated_at = Some(to_k8s(obs.last_rotated_at));
    s.next_rotation_at = obs.next_rotation_at.map(to_k8s);
    s.grace_period_ends_at = obs.grace_period_ends_at.map(to_k8s);
    s.expires_at = obs.expires_at.map(to_k8s);
    s.last_rotate_request = obs.rotate_request;
    s.failed_attempts = 0;
    s.last_error = None;
    s.restarts = merge_restarts(&prev.restarts, obs.restarts);
    let ready_msg = format!("version {} is in Secret {}", obs.version, obs.secret_name);
    set(
        &mut s.conditions,
        Desired::new(READY, true, "Materialized", ready_msg),
        generation,
        now,
    );
    let rotating = match &obs.rotation_waiting {
        Some(why) => Desired::new(ROTATING, true, "WaitingForValue", why.clone()),
        None => Desired::new(ROTATING, false, "Idle", ""),
    };
    set(&mut s.conditions, rotating, generation, now);
    let expiring_now = expiring(obs.expires_at, now, obs.expiry_window);
    let expiry = match (expiring_now, obs.expires_at) {
        (true, Some(at)) => Desired::new(
            EXPIRING,
            true,
            "ExpiresSoon",
            format!("expires at {}", at.to_rfc3339()),
        ),
        _ => Desired::new(EXPIRING, false, "NotExpiring", ""),
    };
    set(&mut s.conditions, expiry, generation, now);
    set(
        &mut s.conditions,
        Desired::new(DEGRADED, false, "Healthy", ""),
        generation,
        now,
    );
    s
}

/// No value yet (external source): not Ready, and says who must act.
pub fn waiting(
    prev: &CredentialStatus,
    generation: Option<i64>,
    message: String,
    now: DateTime<Utc>,
) -> CredentialStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    s.failed_attempts = 0;
    s.last_error = None;
    set(
        &mut s.conditions,
        Desired::new(READY, false, "WaitingForValue", message),
        generation,
        now,
    );
    set(
        &mut s.conditions,
        Desired::new(DEGRADED, false, "Healthy", ""),
        generation,
        now,
    );
    s
}

/// A failed attempt: Degraded with the reason, attempts counted for the back-off. A
/// credential that was Ready stays Ready (its Secret still holds a valid version).
pub fn failed(
    prev: &CredentialStatus,
    generation: Option<i64>,
    reason: &str,
    message: String,
    now: DateTime<Utc>,
) -> CredentialStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    s.failed_attempts = prev.failed_attempts.saturating_add(1);
    s.last_error = Some(message.clone());
    set(
        &mut s.conditions,
        Desired::new(DEGRADED, true, reason, message.clone()),
        generation,
        now,
    );
    if s.version.is_none() {
        set(
            &mut s.conditions,
            Desired::new(READY, false, reason, message),
            generation,
            now,
        );
    }
    s
}

/// Keeps one record per workload and hash; a repeated observation keeps its first time.
fn merge_restarts(prev: &[RestartRecord], new: Vec<RestartRecord>) -> Vec<RestartRecord> {
    let mut out = prev.to_vec();
    for record in new {
        let same = |r: &RestartRecord| {
            r.kind == record.kind
                && r.name == record.name
                && r.hash == record.hash
                && r.result == record.result
        };
        if !out.iter().any(same) {
            out.push(record);
        }
    }
    let excess = out.len().saturating_sub(RESTART_HISTORY);
    out.drain(..excess);
    out
}

#[cfg(test)]
mod tests {
    use javari_core::conditions::is_true;
    use javari_crds::credential::RolloutKind;

    use super::*;

    fn observed(version: i32, restarts: Vec<RestartRecord>) -> Observed {
        Observed {
            version,
            content_hash: format!("h{version}"),
            secret_name: "db".into(),
            last_rotated_at: Utc::now(),
            next_rotation_at: None,
            grace_period_ends_at: None,
            expires_at: None,
            expiry_window: DEFAULT_EXPIRY_WINDOW,
            rotate_request: None,
            restarts,
            rotation_waiting: None,
        }
    }

    fn record(name: &str, hash: &str) -> RestartRecord {
        RestartRecord {
            kind: RolloutKind::Deployment,
            name: name.into(),
            hash: hash.into(),
            result: "restarted".into(),
            at: to_k8s(Utc::now()),
        }
    }

    #[test]
    fn the_same_observation_twice_gives_the_same_status() {
        let now = Utc::now();
        let first = ready(
            &CredentialStatus::default(),
            Some(1),
            observed(1, vec![record("web", "h1")]),
            now,
        );
        let again = ready(
            &first,
            Some(1),
            observed(1, vec![]),
            now + TimeDelta::seconds(30),
        );
        let mut first_cmp = first.clone();
        first_cmp.last_rotated_at = again.last_rotated_at.clone();
        assert_eq!(first_cmp, again, "a resync must not change status");
        assert!(is_true(&again.conditions, READY));
        assert!(!is_true(&again.conditions, DEGRADED));
    }

    #[test]
    fn failures_count_and_keep_readiness() {
        let now = Utc::now();
        let ok = ready(
            &CredentialStatus::default(),
            Some(1),
            observed(1, vec![]),
            now,
        );
        let f1 = failed(&ok, Some(1), "SourceSecretMissing", "gone".into(), now);
        let f2 = failed(&f1, Some(1), "SourceSecretMissing", "gone".into(), now);
        assert_eq!(f2.failed_attempts, 2);
        assert!(is_true(&f2.conditions, DEGRADED));
        assert!(
            is_true(&f2.conditions, READY),
            "the Secret still holds version 1"
        );
        let fresh = failed(
            &CredentialStatus::default(),
            Some(1),
            "SourceSecretMissing",
            "gone".into(),
            now,
        );
        assert!(!is_true(&fresh.conditions, READY));
        let recovered = ready(&f2, Some(1), observed(1, vec![]), now);
        assert_eq!(recovered.failed_attempts, 0);
        assert_eq!(recovered.last_error, None);
    }

    #[test]
    fn restart_history_deduplicates_and_is_bounded() {
        let mut prev = vec![record("web", "h1")];
        prev = merge_restarts(&prev, vec![record("web", "h1")]);
        assert_eq!(prev.len(), 1);
        prev = merge_restarts(&prev, vec![record("web", "h2")]);
        assert_eq!(prev.len(), 2);
        let many: Vec<_> = (0..30).map(|i| record("web", &format!("x{i}"))).collect();
        assert_eq!(merge_restarts(&prev, many).len(), RESTART_HISTORY);
    }

    #[test]
    fn expiry_warning() {
        let now = Utc::now();
        let mut obs = observed(1, vec![]);
        obs.expires_at = Some(now + TimeDelta::days(3));
        assert!(is_true(
            &ready(&CredentialStatus::default(), None, obs, now).conditions,
            EXPIRING
        ));
    }
}
