//! A bound on password verification. argon2id takes 19 MiB and tens of milliseconds of CPU
//! per check, so at most `max_password_checks` run at once; a few sign-ins may wait for a
//! slot, and beyond that (or after `password_wait`) the answer is 503 with Retry-After.
//!
//! An email that matches no account is not verified at all: it waits about as long as a
//! real verification takes (a running average), without a slot, memory or CPU, so a flood of
//! made-up emails costs a timer each and still does not tell which accounts exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a refused sign-in is told to wait.
pub const BUSY_RETRY_AFTER: u64 = 2;

#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

pub struct PasswordGate {
    permits: Arc<Semaphore>,
    max_checks: usize,
    max_waiters: usize,
    wait: Duration,
    waiters: AtomicUsize,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    verifications: AtomicU64,
    decoys: AtomicU64,
    refused: AtomicU64,
    /// Running average of a verification, microseconds.
    average_micros: AtomicU64,
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug)]
pub struct GateStats {
    pub verifications: u64,
    pub decoys: u64,
    pub refused: u64,
    pub peak_running: usize,
    pub max_checks: usize,
}

impl PasswordGate {
    pub fn new(max_checks: usize, max_waiters: usize, wait: Duration) -> Self {
        let max_checks = max_checks.max(1);
        Self {
            permits: Arc::new(Semaphore::new(max_checks)),
            max_checks,
            max_waiters,
            wait,
            waiters: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            peak_running: AtomicUsize::new(0),
            verifications: AtomicU64::new(0),
            decoys: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            average_micros: AtomicU64::new(50_000),
        }
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiters.fetch_add(1, Ordering::SeqCst) >= self.max_waiters {
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Busy)
            }
        }
    }

    /// Checks `password` against `hash` on a blocking thread, within the bound.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        let permit = self.slot().await?;
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_running.fetch_max(running, Ordering::SeqCst);
        let started = Instant::now();
        let verified =
            tokio::task::spawn_blocking(move || super::verify_password(&password, &hash))
                .await
                .unwrap_or(false);
        let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        let old = self.average_micros.load(Ordering::Relaxed);
        self.average_micros
            .store(old - old / 8 + micros / 8, Ordering::Relaxed);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.verifications.fetch_add(1, Ordering::Relaxed);
        drop(permit);
        Ok(verified)
    }

    /// Takes as long as a verification usually does, and nothing else.
    pub async fn decoy(&self) {
        self.decoys.fetch_add(1, Ordering::Relaxed);
        let average = self.average_micros.load(Ordering::Relaxed);
        let mut jitter = [0u8; 2];
        let _ = getrandom::fill(&mut jitter);
        let jitter = u64::from(u16::from_le_bytes(jitter)) % (average / 4 + 1);
        tokio::time::sleep(Duration::from_micros(average - average / 8 + jitter)).await;
    }

    /// Takes every verification slot until the guard is dropped (tests: a full server).
    pub async fn hold_all(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_many_owned(self.max_checks as u32)
            .await
            .expect("the semaphore is never closed")
    }

    pub fn stats(&self) -> GateStats {
        GateStats {
            verifications: self.verifications.load(Ordering::Relaxed),
            decoys: self.decoys.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            peak_running: self.peak_running.load(Ordering::SeqCst),
            max_checks: self.max_checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_refuses_beyond_its_waiters() {
        let gate = PasswordGate::new(1, 0, Duration::from_secs(60));
        let held = gate.hold_all().await;
        let hash = super::super::hash_password("pw");
        assert_eq!(gate.verify("pw".into(), hash.clone()).await, Err(Busy));
        drop(held);
        assert_eq!(gate.verify("pw".into(), hash).await, Ok(true));
        let stats = gate.stats();
        assert_eq!(
            (stats.verifications, stats.refused, stats.peak_running),
            (1, 1, 1)
        );
    }
}
