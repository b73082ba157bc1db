//! Javari's operator as a library: the binary (`main.rs`) parses flags and calls [`run`];
//! tests build a [`Context`] and drive the controllers or a single reconcile directly.

pub mod backups;
pub mod config;
pub mod context;
pub mod credentials;
pub mod driver;
pub mod faults;
pub mod http;
pub mod incident_gauge;
pub mod leader;
pub mod metrics;
pub mod monitors;
pub mod preflight;
pub mod projects;
pub mod providers;
pub mod report;
pub mod secrets;
pub mod timer;

mod run;

pub use context::Context;
pub use run::{Error, run, run_controllers};
