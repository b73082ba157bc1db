//! The chat service's outcomes as the console's metrics.

use javari_core::chat::ChatObserver;

use crate::metrics::HttpMetrics;

impl ChatObserver for HttpMetrics {
    fn answered(&self, provider: &str, model: &str, truncated: bool, cost_usd: f64) {
        self.chat_finished(provider, model, truncated, cost_usd);
    }

    fn fell_back(&self, provider: &str) {
        self.chat_fallback(provider);
    }

    fn unanswered(&self) {
        self.chat_failed();
    }
}
