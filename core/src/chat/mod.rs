//! Chat with the platform's AI providers: streaming clients, routing, fallback and cost.
//!
//! - [`client::open_stream`] speaks each API ([`openai`], [`anthropic`], [`gemini`]) over
//!   SSE ([`sse`]) and yields [`StreamEvent`]s.
//! - [`routing`] classifies a message and orders the (provider, model) candidates.
//! - [`Gateway`] tries candidates with retries, fallback, rate limits and cooldowns
//!   ([`limits`]), and watches the stream for truncation.
//! - [`directory`] loads the providers and their keys; [`cost`] prices a call;
//!   [`embeddings`] turns text into vectors.
//! - [`ChatService`] is the whole exchange (budget, context, knowledge, routing, relay,
//!   storage) emitting typed [`events::ChatEvent`]s that any replica can follow ([`answers`]).

pub mod answers;
pub mod anthropic;
mod budgets;
pub mod client;
pub mod cost;
pub mod directory;
pub mod embeddings;
mod error;
pub mod events;
pub mod gateway;
pub mod gemini;
mod in_flight;
pub mod limits;
pub mod openai;
mod relay;
mod request;
pub mod retrieval;
pub mod routing;
mod service;
pub mod sse;
mod types;
mod watch;

pub use answers::{AnswerBuffer, AnswerHub, FollowError};
pub use client::{ChatStream, ReadLimits, open_stream};
pub use cost::{cost_usd, estimate_tokens};
pub use directory::{ProviderDirectory, load_providers};
pub use embeddings::embed;
pub use error::{DirectoryError, OpenError, RouteError, StreamError};
pub use gateway::{AllFailed, Attempt, Delta, Gateway, GatewayConfig, OpenChat, ProviderStats};
pub use request::{ChatRequest, StreamEvent};
pub use routing::{Candidate, TaskKind, classify, plan};
pub use service::{Ask, ChatError, ChatObserver, ChatService, ChatSettings, NoObserver, Started};
pub use types::{ChatMessage, ModelInfo, ProviderEntry, Role, Usage};
pub use watch::PROVIDERS_CHANNEL;
