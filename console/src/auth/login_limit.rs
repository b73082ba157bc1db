//! Sign-in rate limit: after nine wrong passwords within a minute for one account or from one
//! address, further attempts are refused with 429 until the window has passed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 9;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Seconds to wait when any of `keys` has used up its failures, else `None`.
    pub fn blocked(&self, keys: &[String], now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|key| {
                let times = map.get_mut(key)?;
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                (times.len() >= MAX_FAILURES).then(|| {
                    let oldest = times.front().copied().unwrap_or(now);
                    (WINDOW.saturating_sub(now.duration_since(oldest)))
                        .as_secs()
                        .max(1)
                })
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        for key in keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
    }

    pub fn clear(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_failure_within_a_minute_is_blocked_and_the_window_passes() {
        let limiter = LoginLimiter::default();
        let keys = vec!["email:a@x".to_owned()];
        let start = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(limiter.blocked(&keys, start), None, "attempt {}", i + 1);
            limiter.record_failure(&keys, start);
        }
        assert!(limiter.blocked(&keys, start).is_some(), "tenth attempt");
        assert_eq!(
            limiter.blocked(&keys, start + WINDOW),
            None,
            "after a minute"
        );
        let other = vec!["email:b@x".to_owned()];
        assert_eq!(limiter.blocked(&other, start), None, "per key");
    }
}
