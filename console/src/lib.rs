//! The Javari console: server-rendered pages and the JSON API under `/api/`.
//! [`app`] builds the whole router from an [`AppState`], so tests drive it in-process.

pub mod config;
mod metrics;
mod routes;
mod state;

pub use routes::app;
pub use state::AppState;
