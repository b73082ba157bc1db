//! Sign-in rate limit: after nine wrong passwords within a minute for one account or from one
//! address, further attempts are refused with 429 until the window has passed. An attempt is
//! counted before its password is checked, so parallel requests cannot slip past the limit
//! while argon2 runs; a successful sign-in takes its own attempt back.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 9;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Counts an attempt under every key, or refuses it with the seconds to wait when a key
    /// has used up its attempts.
    pub fn begin(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        let wait = keys
            .iter()
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
                    WINDOW
                        .saturating_sub(now.duration_since(oldest))
                        .as_secs()
                        .max(1)
                })
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
        Ok(())
    }

    /// The attempt begun at `at` signed in: it no longer counts against anyone, and the
    /// account's earlier failures are forgotten.
    pub fn succeeded(&self, keys: &[String], at: Instant) {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        for (i, key) in keys.iter().enumerate() {
            if i == 0 {
                map.remove(key);
            } else if let Some(times) = map.get_mut(key)
                && let Some(pos) = times.iter().rposition(|t| *t == at)
            {
                times.remove(pos);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_attempt_within_a_minute_is_refused_and_the_window_passes() {
        let limiter = LoginLimiter::default();
        let keys = vec!["email:a@x".to_owned()];
        let start = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(limiter.begin(&keys, start), Ok(()), "attempt {}", i + 1);
        }
        assert!(limiter.begin(&keys, start).is_err(), "tenth attempt");
        assert_eq!(
            limiter.begin(&keys, start + WINDOW),
            Ok(()),
            "after a minute"
        );
        let other = vec!["email:b@x".to_owned()];
        assert_eq!(limiter.begin(&other, start), Ok(()), "per key");
    }

    #[test]
    fn a_success_takes_its_attempt_back() {
        let limiter = LoginLimiter::default();
        let keys = vec!["email:a@x".to_owned(), "client:10.0.0.1".to_owned()];
        let start = Instant::now();
        for i in 0..20u64 {
            let at = start + Duration::from_millis(i);
            assert_eq!(limiter.begin(&keys, at), Ok(()), "sign-in {i}");
            limiter.succeeded(&keys, at);
        }
    }
}
