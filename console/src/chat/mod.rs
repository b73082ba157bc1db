//! Chat: the request as the API and the page send it, and the HTTP face of the core chat
//! service (its errors as statuses, its events as metrics).

mod errors;
mod input;
mod observer;
pub(crate) use observer::{ChatOutcomes, spawn_provider_days_flush};

pub use errors::{chat_error, follow_error};
pub use input::{ChatInput, MAX_MESSAGE_CHARS};
