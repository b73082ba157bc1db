//! Row types of conversations and messages, in the JSON shape of the source API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The title of a conversation nobody has named yet; the first exchange replaces it.
pub const DEFAULT_TITLE: &str = "New conversation";

/// Allowed values of `javari_conversations.status`.
pub const STATUSES: &[&str] = &["active", "archived", "deleted", "paused", "completed"];

/// A conversation, serialised as the source system's `Conversation`.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub title: String,
    /// The rolling summary of older messages (`javari_conversations.summary`).
    pub context_summary: Option<String>,
    /// Total tokens in and out over the conversation.
    pub token_count: i64,
    /// Total cost in USD.
    pub total_cost: f64,
    pub status: String,
    pub starred: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub message_count: i32,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Model and provider of the latest answer.
    pub model: Option<String>,
    pub provider: Option<String>,
}

/// The select list producing a [`Conversation`] from `javari_conversations`.
pub(crate) const CONVERSATION_COLUMNS: &str = "id, user_id, project_id, parent_id, title, \
    summary AS context_summary, total_tokens AS token_count, cost_usd::float8 AS total_cost, \
    status, starred, created_at, updated_at, message_count, last_message_at, model, provider";

/// A stored message.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost: f64,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    /// The answer was cut short (stream aborted, length limit).
    pub truncated: bool,
    /// Knowledge citations of the answer (`[]` when none).
    #[schema(value_type = Vec<Object>)]
    pub citations: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The select list producing a [`StoredMessage`] from `javari_messages`.
pub(crate) const MESSAGE_COLUMNS: &str = "id, conversation_id, role, content, model, provider, \
    input_tokens, output_tokens, cost_usd::float8 AS cost, latency_ms, error, \
    coalesce(metadata->'truncated' = 'true'::jsonb, false) AS truncated, \
    coalesce(metadata->'citations', '[]'::jsonb) AS citations, created_at";
