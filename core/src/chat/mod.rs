//! Chat with the platform's AI providers: streaming clients, routing, fallback and cost.
//!
//! - [`client::open_stream`] speaks each API ([`openai`], [`anthropic`], [`gemini`]) over
//!   SSE ([`sse`]) and yields [`StreamEvent`]s.
//! - [`routing`] classifies a message and orders the (provider, model) candidates.
//! - [`Gateway`] tries candidates with retries, fallback, rate limits and cooldowns
//!   ([`limits`]), and watches the stream for truncation.
//! - [`directory`] loads the providers and their keys; [`cost`] prices a call;
//!   [`embeddings`] turns text into vectors.

pub mod anthropic;
pub mod client;
pub mod cost;
pub mod directory;
pub mod embeddings;
mod error;
pub mod gateway;
pub mod gemini;
pub mod limits;
pub mod openai;
mod request;
pub mod routing;
pub mod sse;
mod types;

pub use client::{ChatStream, open_stream};
pub use cost::{cost_usd, estimate_tokens};
pub use directory::{ProviderDirectory, load_providers};
pub use embeddings::embed;
pub use error::{DirectoryError, OpenError, RouteError, StreamError};
pub use gateway::{AllFailed, Attempt, Delta, Gateway, GatewayConfig, OpenChat, ProviderStats};
pub use request::{ChatRequest, StreamEvent};
pub use routing::{Candidate, TaskKind, classify, plan};
pub use types::{ChatMessage, ModelInfo, ProviderEntry, Role, Usage};
