//! Health-check history that stays fast as it grows: raw rows for 48 hours, hourly rollups
//! for 90 days, daily rollups for two years (Gatus keeps one row per endpoint and hour and
//! merges them into days). Each rollup row holds the check count, the passing count and a
//! response-time histogram over fixed bucket bounds, so the uptime and the percentiles of
//! any window are sums over a handful of rows, and agree with the raw rows they came from.

mod fleet;
mod histogram;
mod query;
mod rollup;

pub use fleet::FleetTrend;
pub use histogram::{BUCKETS_MS, Histogram, bucket_of, bucket_upper_ms};
pub use query::{
    DayBar, HourPoint, TierPlan, Tiers, Window, WindowStats, day_bars, effective_start,
    fleet_trend, floor_hour, monitor_trend, tier_plan, tiers, window_stats, windows_stats,
};
pub use rollup::{ROLLUP_LOCK, Retention, RollupReport, rollup_once, start_rollups};
