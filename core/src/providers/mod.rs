//! AI providers: the health probe and the providers tables.

mod probe;
mod store;

pub use probe::{ProbeOutcome, classify, probe, probe_request};
pub use store::{StoredModel, record_probe, remove_provider, sync_provider};
