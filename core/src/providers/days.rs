//! Chat fallbacks and truncations per Provider per day: counted in memory on the chat path
//! (a mutex around a small map, no I/O) and added to `javari_provider_days` in one batched
//! upsert by [`ProviderDayTally::flush`], which the console runs every few seconds.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// Distinct (Provider, day) counters held between flushes at most; past it new keys are
/// dropped with a warning (a flush that keeps failing must not grow memory without bound).
pub const MAX_PENDING_KEYS: usize = 10_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub fallbacks: i64,
    pub truncations: i64,
}

type Key = (String, String, NaiveDate);

/// Counts not yet written, by Provider `namespace`, `name` and day.
#[derive(Debug, Default)]
pub struct ProviderDayTally {
    pending: Mutex<HashMap<Key, DayCounts>>,
}

impl ProviderDayTally {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, namespace: &str, name: &str, at: DateTime<Utc>, add: DayCounts) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.to_owned(), name.to_owned(), at.date_naive());
        if !pending.contains_key(&key) && pending.len() >= MAX_PENDING_KEYS {
            tracing::warn!(
                namespace,
                name,
                "provider day counters full; event not counted"
            );
            return;
        }
        let c = pending.entry(key).or_default();
        c.fallbacks += add.fallbacks;
        c.truncations += add.truncations;
    }

    /// A chat left `namespace/name` for a lower-priority Provider.
    pub fn fell_back(&self, namespace: &str, name: &str, at: DateTime<Utc>) {
        self.add(
            namespace,
            name,
            at,
            DayCounts {
                fallbacks: 1,
                truncations: 0,
            },
        );
    }

    /// An answer from `namespace/name` was cut short.
    pub fn truncated(&self, namespace: &str, name: &str, at: DateTime<Utc>) {
        self.add(
            namespace,
            name,
            at,
            DayCounts {
                fallbacks: 0,
                truncations: 1,
            },
        );
    }

    /// Keys waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Adds everything counted so far to the table in one statement; on an error the counts
    /// go back to be written by the next flush. Returns the rows written (Providers that no
    /// longer exist are skipped).
    pub async fn flush(&self, pool: &PgPool) -> Result<u64, sqlx::Error> {
        let batch: Vec<(Key, DayCounts)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending).into_iter().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let mut namespaces = Vec::with_capacity(batch.len());
        let mut names = Vec::with_capacity(batch.len());
        let mut days = Vec::with_capacity(batch.len());
        let mut fallbacks = Vec::with_capacity(batch.len());
        let mut truncations = Vec::with_capacity(batch.len());
        for ((ns, name, day), c) in &batch {
            namespaces.push(ns.clone());
            names.push(name.clone());
            days.push(*day);
            fallbacks.push(c.fallbacks);
            truncations.push(c.truncations);
        }
        let written = sqlx::query(
            "INSERT INTO javari_provider_days AS t (provider_id, day, fallbacks, truncations) \
             SELECT p.id, d.day, d.fallbacks, d.truncations \
             FROM unnest($1::text[], $2::text[], $3::date[], $4::int8[], $5::int8[]) \
                  AS d(namespace, name, day, fallbacks, truncations) \
             JOIN javari_providers p ON p.namespace = d.namespace AND p.name = d.name \
             ON CONFLICT (provider_id, day) DO UPDATE SET \
                fallbacks = t.fallbacks + EXCLUDED.fallbacks, \
                truncations = t.truncations + EXCLUDED.truncations, \
                updated_at = now()",
        )
        .bind(&namespaces)
        .bind(&names)
        .bind(&days)
        .bind(&fallbacks)
        .bind(&truncations)
        .execute(pool)
        .await;
        match written {
            Ok(r) => Ok(r.rows_affected()),
            Err(e) => {
                for ((ns, name, day), c) in batch {
                    let at = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
                    self.add(&ns, &name, at, c);
                }
                Err(e)
            }
        }
    }
}

/// One day of a Provider's fallbacks and truncations, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ProviderDayCounts {
    pub day: NaiveDate,
    pub fallbacks: i64,
    pub truncations: i64,
}

/// Provider `namespace/name`'s stored days since `since` (a day, UTC), newest first.
pub async fn provider_day_counts(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    since: NaiveDate,
) -> Result<Vec<ProviderDayCounts>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.day, d.fallbacks, d.truncations FROM javari_provider_days d \
         JOIN javari_providers p ON p.id = d.provider_id \
         WHERE p.namespace = $1 AND p.name = $2 AND d.day >= $3 ORDER BY d.day DESC",
    )
    .bind(namespace)
    .bind(name)
    .bind(since)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_provider_and_day() {
        let t = ProviderDayTally::new();
        let d1 = DateTime::parse_from_rfc3339("2026-11-30T23:59:59Z")
            .expect("time")
            .to_utc();
        let d2 = DateTime::parse_from_rfc3339("2026-12-01T00:00:01Z")
            .expect("time")
            .to_utc();
        t.fell_back("ns", "a", d1);
        t.fell_back("ns", "a", d1);
        t.truncated("ns", "a", d1);
        t.truncated("ns", "a", d2);
        t.fell_back("other", "a", d1);
        assert_eq!(t.pending(), 3);
        let pending = t.pending.lock().expect("lock");
        assert_eq!(
            pending[&("ns".into(), "a".into(), d1.date_naive())],
            DayCounts {
                fallbacks: 2,
                truncations: 1
            }
        );
        assert_eq!(
            pending[&("ns".into(), "a".into(), d2.date_naive())],
            DayCounts {
                fallbacks: 0,
                truncations: 1
            }
        );
    }
}
