//! Waiting in tests: for a condition, with a deadline, never for a bare span of time.

use std::time::{Duration, Instant};

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(100);

/// Checks `condition` until it gives a value and returns it; fails the test, naming `what`,
/// when `limit` passes first. The condition is checked once more at the deadline, so a slow
/// check never fails a wait that was met.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut condition: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        let now = Instant::now();
        if now >= deadline {
            panic!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_value() {
        let mut calls = 0;
        let got = eventually("the third call", Duration::from_secs(5), async || {
            calls += 1;
            (calls == 3).then_some(calls)
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting until never")]
    async fn fails_naming_the_condition_at_the_deadline() {
        eventually("never", Duration::from_millis(200), async || None::<()>).await;
    }
}
