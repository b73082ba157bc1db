//! Monitors: the check condition language, the failure/success threshold state machine, and
//! the health-check and incident tables.

mod cadence;
mod condition;
mod store;
mod threshold;

pub use cadence::{
    Cadence, CadenceError, DEFAULT_INTERVAL, Every, MIN_INTERVAL, cadence, next_occurrence,
};
pub use condition::{CheckResult, Condition, Op, ParseError, Subject, evaluate_all, parse};
pub use store::{
    CheckRow, LatencyStats, UptimeWindows, add_timeline_event, count_open_incidents, insert_checks,
    latency_stats, open_incident, resolve_incident, uptime, uptime_windows,
};
pub use threshold::{Counters, Transition, step};
