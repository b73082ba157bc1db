//! The chat service's outcomes as the console's metrics and, per Provider per day, the
//! fallbacks and truncations the Provider pages show (counted in memory here, written in
//! batches by [`spawn_provider_days_flush`], never on the chat path).

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;
use javari_core::chat::ChatObserver;
use javari_core::providers::ProviderDayTally;
use sqlx::PgPool;

use crate::metrics::HttpMetrics;

/// How often the counted fallbacks and truncations are added to `javari_provider_days`.
pub const PROVIDER_DAYS_FLUSH: Duration = Duration::from_secs(5);

pub struct ChatOutcomes {
    pub metrics: Arc<HttpMetrics>,
    pub days: Arc<ProviderDayTally>,
}

impl ChatObserver for ChatOutcomes {
    fn answered(
        &self,
        namespace: &str,
        provider: &str,
        model: &str,
        truncated: bool,
        cost_usd: f64,
    ) {
        self.metrics
            .chat_finished(provider, model, truncated, cost_usd);
        if truncated {
            self.days.truncated(namespace, provider, Utc::now());
        }
    }

    fn fell_back(&self, namespace: &str, provider: &str) {
        self.metrics.chat_fallback(provider);
        self.days.fell_back(namespace, provider, Utc::now());
    }

    fn unanswered(&self) {
        self.metrics.chat_failed();
    }
}

/// Adds the tally to the table every [`PROVIDER_DAYS_FLUSH`] on the current runtime (none
/// outside one) until the tally is dropped.
pub fn spawn_provider_days_flush(db: PgPool, days: &Arc<ProviderDayTally>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let days: Weak<ProviderDayTally> = Arc::downgrade(days);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(PROVIDER_DAYS_FLUSH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(days) = days.upgrade() else { return };
            if let Err(e) = days.flush(&db).await {
                tracing::warn!(error = %e, "provider fallbacks and truncations not written yet; kept for the next flush");
            }
        }
    });
}
