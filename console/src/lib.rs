//! The Javari console: server-rendered pages and the JSON API under `/api/`.
//! [`app`] builds the whole router from an [`AppState`], so tests drive it in-process.

mod assets;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod config;
pub mod crawls;
mod error;
pub mod kube_client;
pub mod markdown;
mod metrics;
pub mod platform;
mod retrieval;
mod routes;
mod schema_cache;
mod schema_targets;
mod security;
pub mod settings;
mod state;
pub mod status_page;

pub use error::ApiError;
pub use routes::{OVERHEAD_HEADER, app, openapi_document};
pub use settings::Settings;
pub use state::AppState;
