//! Keeps `javari_operator_incidents_open` equal to the stored count, whoever opened or
//! resolved the incidents (a Monitor, the console, another replica).

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use crate::Context;

/// How often the count is read again.
pub const REFRESH: Duration = Duration::from_secs(15);

pub async fn run(ctx: Arc<Context>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match javari_core::monitors::count_open_incidents(ctx.vault.pool()).await {
            Ok(open) => {
                ctx.metrics.incidents_open.set(open);
            }
            Err(e) => warn!(error = %e, "cannot count open incidents"),
        }
    }
}
