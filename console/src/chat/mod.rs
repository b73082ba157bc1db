//! Chat: the request, the exchange that answers it, and the answers in flight.

mod input;
mod service;
mod streams;

pub use input::{ChatInput, MAX_MESSAGE_CHARS};
pub use service::{Started, start};
pub use streams::{ChatStreams, StreamBuffer};
