//! Fault injection for crash-safety tests: a reconcile can be told to stop right after a
//! given step, as if the process died there. Always empty in production.

use std::sync::Mutex;

/// The steps of a rotation, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The new version is committed to the vault.
    VaultWritten,
    /// The Secret holds the new version (and `previous`).
    SecretWritten,
    /// Consumers carry the new version's hash.
    ConsumersRestarted,
}

#[derive(Default)]
pub struct Faults(Mutex<Option<Step>>);

impl Faults {
    /// Fail once, right after `step`.
    pub fn fail_after(&self, step: Step) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(step);
    }

    /// Returns an error if a failure was requested after `step` (and clears the request).
    pub fn check(&self, step: Step) -> Result<(), Step> {
        let mut armed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *armed == Some(step) {
            *armed = None;
            return Err(step);
        }
        Ok(())
    }
}
