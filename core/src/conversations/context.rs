//! The context sent to a model: the rolling summary plus the latest messages only.

use sqlx::PgPool;
use uuid::Uuid;

use super::error::ConversationError;
use super::model::{MESSAGE_COLUMNS, StoredMessage};
use crate::db::begin_as;

/// What a model sees of a conversation's past.
#[derive(Clone, Debug)]
pub struct ContextWindow {
    /// Summary of the messages older than `recent`, if one was made.
    pub summary: Option<String>,
    /// The latest messages, oldest first.
    pub recent: Vec<StoredMessage>,
}

/// The stored summary and the last `keep_last` messages of a conversation — never the whole
/// history: one query on `(conversation_id, created_at)` with `ORDER BY ... DESC LIMIT`.
/// Runs as `user_id`: another user's conversation is [`ConversationError::NotFound`].
pub async fn context(
    pool: &PgPool,
    user_id: Uuid,
    conversation_id: Uuid,
    keep_last: usize,
) -> Result<ContextWindow, ConversationError> {
    let mut tx = begin_as(pool, user_id).await?;
    let summary: Option<Option<String>> =
        sqlx::query_scalar("SELECT summary FROM javari_conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
    let summary = summary.ok_or(ConversationError::NotFound)?;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM javari_messages WHERE conversation_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let mut recent = sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(sql))
        .bind(conversation_id)
        .bind(i64::try_from(keep_last).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    recent.reverse();
    Ok(ContextWindow { summary, recent })
}
