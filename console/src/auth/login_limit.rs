//! Sign-in throttling that slows guessing without locking out the rightful owner.
//!
//! Failures are counted per client (over all accounts) and per account *and* client, never per
//! account alone: whoever guesses at an account from one address is slowed down there, while
//! the owner signing in from their own address is not affected. An attempt is counted before
//! its password is checked, so parallel requests cannot slip past a limit while argon2 runs;
//! a successful sign-in takes its own attempt back and forgets the pair's earlier failures.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ClientKey;

/// Distinct keys tracked at most; beyond it (after dropping expired ones) new keys are refused.
const MAX_KEYS: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub client: u32,
    pub account_client: u32,
    pub window: Duration,
}

/// The keys one sign-in attempt counts under.
#[derive(Clone, Debug)]
pub struct AttemptKeys {
    client: String,
    pair: String,
    at: Instant,
}

pub struct LoginLimiter {
    limits: Limits,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt of `client` at `email`, or refuses it with the seconds to wait.
    pub fn begin(&self, email: &str, client: &ClientKey, now: Instant) -> Result<AttemptKeys, u64> {
        let keys = AttemptKeys {
            client: format!("client:{}", client.0),
            pair: format!("pair:{}|{}", email.to_lowercase(), client.0),
            at: now,
        };
        let window = self.limits.window;
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
            if map.len() >= MAX_KEYS
                && !(map.contains_key(&keys.client) && map.contains_key(&keys.pair))
            {
                return Err(window.as_secs().max(1));
            }
        }
        let wait = [
            (&keys.client, self.limits.client),
            (&keys.pair, self.limits.account_client),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let times = map.get_mut(key.as_str())?;
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                times.pop_front();
            }
            (times.len() >= limit as usize).then(|| {
                let oldest = times.front().copied().unwrap_or(now);
                window
                    .saturating_sub(now.duration_since(oldest))
                    .as_secs()
                    .max(1)
            })
        })
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in [&keys.client, &keys.pair] {
            map.entry(key.clone()).or_default().push_back(now);
        }
        Ok(keys)
    }

    /// The attempt signed in: the pair's failures are forgotten and the client's count gets
    /// this attempt back.
    pub fn succeeded(&self, keys: &AttemptKeys) {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&keys.pair);
        self.take_back(&mut map, &keys.client, keys.at);
    }

    /// The attempt was never judged (the server was busy): it counts against no one.
    pub fn abandoned(&self, keys: &AttemptKeys) {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        self.take_back(&mut map, &keys.client, keys.at);
        self.take_back(&mut map, &keys.pair, keys.at);
    }

    fn take_back(&self, map: &mut HashMap<String, VecDeque<Instant>>, key: &str, at: Instant) {
        if let Some(times) = map.get_mut(key)
            && let Some(pos) = times.iter().rposition(|t| *t == at)
        {
            times.remove(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        client: 30,
        account_client: 5,
        window: Duration::from_secs(900),
    };

    fn client(s: &str) -> ClientKey {
        ClientKey(s.to_owned())
    }

    #[test]
    fn a_guesser_is_slowed_at_their_address_and_the_owner_is_not() {
        let limiter = LoginLimiter::new(LIMITS);
        let start = Instant::now();
        for i in 0..5 {
            assert!(
                limiter.begin("admin@x", &client("6.6.6.6"), start).is_ok(),
                "guess {i}"
            );
        }
        let wait = limiter
            .begin("Admin@X", &client("6.6.6.6"), start)
            .expect_err("sixth guess");
        assert_eq!(wait, 900);
        let owner = limiter
            .begin("admin@x", &client("10.0.0.1"), start)
            .expect("the owner");
        limiter.succeeded(&owner);
        assert!(
            limiter
                .begin("admin@x", &client("6.6.6.6"), start + LIMITS.window)
                .is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn one_client_guessing_many_accounts_is_limited() {
        let limiter = LoginLimiter::new(LIMITS);
        let start = Instant::now();
        for i in 0..30 {
            assert!(
                limiter
                    .begin(&format!("u{i}@x"), &client("6.6.6.6"), start)
                    .is_ok()
            );
        }
        assert!(limiter.begin("u99@x", &client("6.6.6.6"), start).is_err());
        assert!(limiter.begin("u99@x", &client("7.7.7.7"), start).is_ok());
    }

    #[test]
    fn successes_and_abandoned_attempts_take_their_attempt_back() {
        let limiter = LoginLimiter::new(LIMITS);
        let start = Instant::now();
        for i in 0..100u64 {
            let at = start + Duration::from_millis(i);
            let keys = limiter
                .begin("a@x", &client("1.1.1.1"), at)
                .expect("sign-in");
            if i % 2 == 0 {
                limiter.succeeded(&keys);
            } else {
                limiter.abandoned(&keys);
            }
        }
    }
}
