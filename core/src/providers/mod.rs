//! AI providers: the health probe and the providers tables.

mod days;
mod probe;
mod store;

pub use days::{
    DayCounts, MAX_PENDING_KEYS, ProviderDayCounts, ProviderDayTally, provider_day_counts,
};
pub use probe::{ProbeOutcome, classify, probe, probe_request};
pub use store::{StoredModel, record_probe, remove_provider, sync_provider};
