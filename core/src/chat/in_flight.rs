//! A per-user limit on answers in flight in this console.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

#[derive(Clone)]
pub struct InFlight {
    max_per_user: usize,
    counts: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// One answer in flight; dropping it frees its place.
pub struct InFlightPermit {
    user: Uuid,
    counts: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl InFlight {
    pub fn new(max_per_user: usize) -> Self {
        Self {
            max_per_user,
            counts: Arc::default(),
        }
    }

    /// A place for one more answer of `user`; `None` when they have the most allowed.
    pub fn try_acquire(&self, user: Uuid) -> Option<InFlightPermit> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(user).or_default();
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(InFlightPermit {
            user,
            counts: self.counts.clone(),
        })
    }

    pub fn max_per_user(&self) -> usize {
        self.max_per_user
    }
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_the_limit_and_places_come_back() {
        let limit = InFlight::new(2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = limit.try_acquire(a).expect("1");
        let _second = limit.try_acquire(a).expect("2");
        assert!(limit.try_acquire(a).is_none(), "third refused");
        assert!(limit.try_acquire(b).is_some(), "others unaffected");
        drop(first);
        assert!(limit.try_acquire(a).is_some(), "a place came back");
    }
}
