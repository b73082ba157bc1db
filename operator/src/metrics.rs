//! The operator's Prometheus metrics.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub struct Metrics {
    pub registry: Registry,
    pub ready: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("javari_operator");
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 once the CRDs are checked and the schema migrated",
            ready.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(vec![("version", javari_core::VERSION)]),
        );
        Self { registry, ready }
    }
}
