//! Javari's core: the domain logic and storage shared by the operator and the console.
//! Everything here is either a pure function or talks to PostgreSQL; the binaries are thin
//! adapters that read input, call in here and write output.

pub mod backups;
pub mod chat;
pub mod conditions;
pub mod conversations;
pub mod crawl;
pub mod credentials;
pub mod db;
pub mod github;
pub mod health;
pub mod history;
pub mod http;
pub mod incidents;
pub mod knowledge;
pub mod monitors;
pub mod overview;
pub mod projects;
pub mod providers;
pub mod roles;
pub mod runbooks;
pub mod schema;
pub mod statuspage;
pub mod svg;
pub mod telemetry;
pub mod time;
pub mod totp;
pub mod vault;

/// Version of this build, reported by `/api/health` and the binaries' `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
