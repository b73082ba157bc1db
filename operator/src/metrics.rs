//! The operator's Prometheus metrics: readiness, reconciles by kind and outcome, failures by
//! error reason (the same reasons as Events), durations, rotations.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub ready: Gauge,
    pub leader: Gauge,
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub rotations: Counter,
    pub restarts: Counter,
    pub probes: Counter,
    pub checks: Counter,
    pub checks_skipped: Counter,
    pub incidents_opened: Counter,
    /// Incidents not yet resolved, as stored (refreshed by `incident_gauge`).
    pub incidents_open: Gauge,
    /// `expiresAt` of each Credential that has one, in Unix seconds.
    pub credential_expiry: Family<ObjectLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("javari_operator");
        let ready = Gauge::default();
        let leader = Gauge::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let rotations = Counter::default();
        let restarts = Counter::default();
        let probes = Counter::default();
        let checks = Counter::default();
        let checks_skipped = Counter::default();
        let incidents_opened = Counter::default();
        let incidents_open = Gauge::default();
        let credential_expiry = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "ready",
            "1 once the CRDs are checked, the schema migrated and the controllers started",
            ready.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(vec![("version", javari_core::VERSION)]),
        );
        registry.register("reconciles", "Reconciles by kind", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Failed reconciles by kind and error reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            duration.clone(),
        );
        registry.register(
            "credential_rotations",
            "Credential versions created by rotation",
            rotations.clone(),
        );
        registry.register(
            "workload_restarts",
            "Workloads restarted for a new credential version",
            restarts.clone(),
        );
        registry.register(
            "provider_probes",
            "Provider health probes sent",
            probes.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        registry.register(
            "monitor_checks",
            "Monitor checks run and stored",
            checks.clone(),
        );
        registry.register(
            "monitor_checks_skipped",
            "Monitor ticks skipped because that Monitor's previous check was still running",
            checks_skipped.clone(),
        );
        registry.register(
            "incidents_opened",
            "Incidents opened by Monitors",
            incidents_opened.clone(),
        );
        registry.register(
            "incidents_open",
            "Incidents open (not resolved) in the shared schema",
            incidents_open.clone(),
        );
        registry.register(
            "credential_expiry_timestamp_seconds",
            "When each Credential with an expiresAt expires, in Unix seconds",
            credential_expiry.clone(),
        );
        Self {
            registry,
            ready,
            leader,
            reconciles,
            failures,
            duration,
            rotations,
            restarts,
            probes,
            checks,
            checks_skipped,
            incidents_opened,
            incidents_open,
            credential_expiry,
        }
    }

    /// Records (or forgets, with `None`) when a Credential expires.
    pub fn set_credential_expiry(&self, namespace: &str, name: &str, expires_at: Option<i64>) {
        let labels = ObjectLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        match expires_at {
            Some(at) => {
                self.credential_expiry.get_or_create(&labels).set(at);
            }
            None => {
                self.credential_expiry.remove(&labels);
            }
        }
    }

    /// Counts a reconcile and measures it until the guard drops.
    pub fn reconcile(&self, kind: &'static str) -> ReconcileGuard<'_> {
        self.reconciles.get_or_create(&KindLabels { kind }).inc();
        ReconcileGuard {
            metrics: self,
            kind,
            started: Instant::now(),
        }
    }

    pub fn failure(&self, kind: &'static str, reason: &'static str) {
        self.failures
            .get_or_create(&FailureLabels { kind, reason })
            .inc();
    }
}

pub struct ReconcileGuard<'a> {
    metrics: &'a Metrics,
    kind: &'static str,
    started: Instant,
}

impl Drop for ReconcileGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&KindLabels { kind: self.kind })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed() {
        let m = Metrics::new();
        m.reconcile("Credential");
        m.failure("Credential", "KubeApiError");
        m.set_credential_expiry("ns", "db-password", Some(1_900_000_000));
        let text = javari_core::telemetry::render_metrics(&m.registry);
        for name in [
            "javari_operator_ready",
            "javari_operator_leader",
            "javari_operator_reconciles_total",
            "javari_operator_reconcile_failures_total",
            "javari_operator_reconcile_duration_seconds",
            "javari_operator_credential_rotations_total",
            "javari_operator_workload_restarts_total",
            "javari_operator_provider_probes_total",
            "javari_operator_monitor_checks_total",
            "javari_operator_incidents_opened_total",
            "javari_operator_incidents_open",
            "javari_operator_credential_expiry_timestamp_seconds{namespace=\"ns\",name=\"db-password\"} 1900000000",
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    }
}
