//! Pure logic of Credentials: value generation, rotation schedule maths and the version hash
//! that tells consumers when to restart.

mod generate;
mod schedule;

pub use generate::{GenerateError, generate};
pub use schedule::{
    ScheduleError, backoff, expiring, grace_period_end, next_rotation, version_hash,
};
