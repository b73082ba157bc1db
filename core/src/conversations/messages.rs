//! Reading a conversation's messages page by page.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::ConversationError;
use super::model::{MESSAGE_COLUMNS, StoredMessage};
use crate::db::begin_as;

/// Largest page of messages served.
const MAX_PAGE: i64 = 500;

/// Up to `limit` (1..=500) messages of the user's conversation created before `before`
/// (or the latest ones), oldest first. Page backwards by passing the first message's
/// `created_at` as the next `before`.
pub async fn messages(
    pool: &PgPool,
    user_id: Uuid,
    conversation_id: Uuid,
    limit: i64,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<StoredMessage>, ConversationError> {
    let mut tx = begin_as(pool, user_id).await?;
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM javari_conversations WHERE id = $1 AND user_id = $2)",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(ConversationError::NotFound);
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM javari_messages
         WHERE conversation_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2)
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let mut rows = sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(sql))
        .bind(conversation_id)
        .bind(before)
        .bind(limit.clamp(1, MAX_PAGE))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    rows.reverse();
    Ok(rows)
}
