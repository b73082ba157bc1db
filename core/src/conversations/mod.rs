//! Conversations and their messages, summaries, totals and budgets.
//!
//! Every function that takes a `user_id` only ever sees that user's conversations: a
//! conversation of someone else is reported as [`ConversationError::NotFound`].

mod budget;
mod context;
mod error;
mod exchange;
mod messages;
mod model;
mod reservations;
mod search;
mod store;
mod summary;

pub use budget::{
    BUDGET_PREFERENCE, BudgetState, billing_period, budget_state, month_spend, monthly_budget,
    set_monthly_budget,
};
pub use context::{ContextWindow, context};
pub use error::ConversationError;
pub use exchange::{
    Exchange, Settle, record_exchange, record_exchange_settling, title_from_message,
};
pub use messages::messages;
pub use model::{Conversation, DEFAULT_TITLE, STATUSES, StoredMessage};
pub use reservations::{
    BUDGET_CHANNEL, Reservation, ReserveError, release_reservation, reserve_budget,
};
pub use search::{DEFAULT_LIMIT, ListQuery, MAX_LIMIT, list};
pub use store::{NewConversation, create, get, rename, set_starred, set_status};
pub use summary::{SUMMARY_MAX_CHARS, refresh_summary, summarize};
