//! Per-provider admission: a requests-per-minute token bucket and cooldowns after rate limits
//! or repeated failures. Keyed by `namespace/name`; cheap and thread-safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive connect/timeout/5xx failures that cool a provider down.
pub const FAILURES_BEFORE_COOLDOWN: u32 = 2;

#[derive(Debug, Default)]
struct State {
    /// Tokens left and when they were last refilled.
    bucket: Option<(f64, Instant)>,
    cooldown_until: Option<Instant>,
    consecutive_failures: u32,
}

impl State {
    fn refill(&mut self, rpm: Option<i32>, now: Instant) -> Option<f64> {
        let rpm = f64::from(rpm.filter(|r| *r > 0)?);
        let (tokens, last) = self.bucket.unwrap_or((rpm, now));
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * rpm / 60.0).min(rpm);
        self.bucket = Some((tokens, now));
        Some(tokens)
    }

    fn cooling(&self, now: Instant) -> bool {
        self.cooldown_until.is_some_and(|until| until > now)
    }
}

#[derive(Debug)]
pub struct Limits {
    cooldown: Duration,
    state: Mutex<HashMap<String, State>>,
}

impl Limits {
    pub fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            state: Mutex::default(),
        }
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut State) -> T) -> T {
        let mut map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(key.to_owned()).or_default())
    }

    /// Not cooling down and a request would pass the rate limit (consumes nothing).
    pub fn is_available(&self, key: &str, rpm: Option<i32>, now: Instant) -> bool {
        self.with(key, |s| {
            !s.cooling(now) && s.refill(rpm, now).is_none_or(|t| t >= 1.0)
        })
    }

    /// Takes one request from the bucket; false when the provider's rpm is used up.
    pub fn try_acquire(&self, key: &str, rpm: Option<i32>, now: Instant) -> bool {
        self.with(key, |s| match s.refill(rpm, now) {
            None => true,
            Some(tokens) if tokens >= 1.0 => {
                s.bucket = Some((tokens - 1.0, now));
                true
            }
            Some(_) => false,
        })
    }

    pub fn record_success(&self, key: &str) {
        self.with(key, |s| s.consecutive_failures = 0);
    }

    /// A 429: cooled down for max(`retry_after`, the configured cooldown).
    pub fn record_rate_limited(&self, key: &str, retry_after: Option<Duration>, now: Instant) {
        let wait = retry_after.unwrap_or_default().max(self.cooldown);
        self.with(key, |s| s.cooldown_until = Some(now + wait));
    }

    /// No first token within the limit: cooled down at once, because every request sent
    /// there meanwhile would make its user wait the whole limit before falling back.
    pub fn record_timeout(&self, key: &str, now: Instant) {
        let cooldown = self.cooldown;
        self.with(key, |s| s.cooldown_until = Some(now + cooldown));
    }

    /// A connect error or 5xx; the second in a row cools the provider down.
    pub fn record_failure(&self, key: &str, now: Instant) {
        let cooldown = self.cooldown;
        self.with(key, |s| {
            s.consecutive_failures += 1;
            if s.consecutive_failures >= FAILURES_BEFORE_COOLDOWN {
                s.cooldown_until = Some(now + cooldown);
                s.consecutive_failures = 0;
            }
        });
    }

    /// When the provider's cooldown ends, if it is cooling down at `now`.
    pub fn cooldown_until(&self, key: &str, now: Instant) -> Option<Instant> {
        self.with(key, |s| s.cooldown_until.filter(|until| *until > now))
    }

    /// Every provider key seen so far.
    pub fn keys(&self) -> Vec<String> {
        let map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_rpm_then_refills() {
        let limits = Limits::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(limits.try_acquire("p", Some(2), t0));
        assert!(limits.try_acquire("p", Some(2), t0));
        assert!(!limits.is_available("p", Some(2), t0));
        assert!(!limits.try_acquire("p", Some(2), t0));
        // One request every 30 s at 2 rpm.
        assert!(!limits.try_acquire("p", Some(2), t0 + Duration::from_secs(20)));
        assert!(limits.try_acquire("p", Some(2), t0 + Duration::from_secs(31)));
        // No limit configured: always allowed.
        for _ in 0..100 {
            assert!(limits.try_acquire("q", None, t0));
        }
    }

    #[test]
    fn rate_limit_cools_down_for_the_longer_of_retry_after_and_cooldown() {
        let limits = Limits::new(Duration::from_secs(30));
        let t0 = Instant::now();
        limits.record_rate_limited("p", Some(Duration::from_secs(1)), t0);
        assert!(!limits.is_available("p", None, t0 + Duration::from_secs(29)));
        assert!(limits.is_available("p", None, t0 + Duration::from_secs(31)));
        limits.record_rate_limited("p", Some(Duration::from_secs(90)), t0);
        assert_eq!(
            limits.cooldown_until("p", t0),
            Some(t0 + Duration::from_secs(90))
        );
    }

    #[test]
    fn two_consecutive_failures_cool_down_and_success_resets() {
        let limits = Limits::new(Duration::from_secs(10));
        let t0 = Instant::now();
        limits.record_failure("p", t0);
        limits.record_success("p");
        limits.record_failure("p", t0);
        assert!(limits.is_available("p", None, t0));
        limits.record_failure("p", t0);
        assert!(!limits.is_available("p", None, t0 + Duration::from_secs(9)));
        assert!(limits.is_available("p", None, t0 + Duration::from_secs(11)));
        assert_eq!(limits.keys(), vec!["p".to_owned()]);
    }

    #[test]
    fn one_timeout_cools_down_at_once() {
        let limits = Limits::new(Duration::from_secs(10));
        let t0 = Instant::now();
        limits.record_timeout("p", t0);
        assert!(!limits.is_available("p", None, t0 + Duration::from_secs(9)));
        assert!(limits.is_available("p", None, t0 + Duration::from_secs(11)));
    }
}
