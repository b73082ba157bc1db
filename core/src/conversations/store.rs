//! Creating, reading and updating single conversations.

use sqlx::{PgConnection, PgPool};

use crate::db::begin_as;
use uuid::Uuid;

use super::error::{ConversationError, is_foreign_key_violation};
use super::model::{CONVERSATION_COLUMNS, Conversation, DEFAULT_TITLE, STATUSES};
use super::summary::summarize;

/// How many of a parent's latest messages are summarised when the parent has no summary.
const PARENT_MESSAGES_SUMMARISED: i64 = 200;

/// A conversation to create.
#[derive(Clone, Debug, Default)]
pub struct NewConversation {
    /// A chosen id (the chat hands it out before the first answer is in); else generated.
    pub id: Option<Uuid>,
    /// Defaults to "New conversation"; the first exchange then names it.
    pub title: Option<String>,
    /// Defaults to the parent's project for a child conversation.
    pub project_id: Option<Uuid>,
    /// Continue from this conversation (must be the user's): the child starts with the
    /// parent's summary, or a summary of the parent's messages, as its context.
    pub parent_id: Option<Uuid>,
}

/// Creates a conversation for `user_id`.
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    new: NewConversation,
) -> Result<Conversation, ConversationError> {
    let mut tx = begin_as(pool, user_id).await?;
    let (project_id, summary) = match new.parent_id {
        None => (new.project_id, None),
        Some(parent_id) => {
            let (parent_project, parent_summary) =
                parent_context(&mut tx, user_id, parent_id).await?;
            (new.project_id.or(parent_project), parent_summary)
        }
    };
    let title = new
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TITLE);
    let sql = format!(
        "INSERT INTO javari_conversations (id, user_id, project_id, parent_id, title, summary) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CONVERSATION_COLUMNS}"
    );
    let conversation = sqlx::query_as::<_, Conversation>(sqlx::AssertSqlSafe(sql))
        .bind(new.id.unwrap_or_else(Uuid::new_v4))
        .bind(user_id)
        .bind(project_id)
        .bind(new.parent_id)
        .bind(title)
        .bind(summary)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match project_id {
            Some(project) if is_foreign_key_violation(&e) => {
                ConversationError::UnknownProject(project)
            }
            _ => ConversationError::Db(e),
        })?;
    tx.commit().await?;
    Ok(conversation)
}

/// The parent's project and the summary a child starts with.
async fn parent_context(
    conn: &mut PgConnection,
    user_id: Uuid,
    parent_id: Uuid,
) -> Result<(Option<Uuid>, Option<String>), ConversationError> {
    let parent: Option<(Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT project_id, summary FROM javari_conversations WHERE id = $1 AND user_id = $2",
    )
    .bind(parent_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (project, summary) = parent.ok_or(ConversationError::NotFound)?;
    // The recent messages are not in the stored summary: fold them in too.
    let recent: Vec<(String, String)> = sqlx::query_as(
        "SELECT role, content FROM (
             SELECT role, content, created_at, id FROM javari_messages
             WHERE conversation_id = $1
               AND created_at > coalesce((
                   SELECT m.created_at FROM javari_conversation_summaries s
                   JOIN javari_messages m ON m.id = s.up_to_message_id
                   WHERE s.conversation_id = $1
                   ORDER BY s.created_at DESC LIMIT 1), '-infinity')
             ORDER BY created_at DESC, id DESC LIMIT $2
         ) latest ORDER BY created_at, id",
    )
    .bind(parent_id)
    .bind(PARENT_MESSAGES_SUMMARISED)
    .fetch_all(&mut *conn)
    .await?;
    if recent.is_empty() {
        return Ok((project, summary));
    }
    let pairs: Vec<(&str, &str)> = recent
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    Ok((project, Some(summarize(summary.as_deref(), &pairs))))
}

/// The user's conversation `id`, if it exists.
pub async fn get(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<Conversation>, ConversationError> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM javari_conversations WHERE id = $1 AND user_id = $2"
    );
    let mut tx = begin_as(pool, user_id).await?;
    let found = sqlx::query_as::<_, Conversation>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// Stars or unstars a conversation.
pub async fn set_starred(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    starred: bool,
) -> Result<Conversation, ConversationError> {
    update(pool, user_id, id, "starred = $3", Value::Bool(starred)).await
}

/// Sets the status (one of [`STATUSES`]); 'deleted' hides it from [`super::list`].
pub async fn set_status(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    status: &str,
) -> Result<Conversation, ConversationError> {
    if !STATUSES.contains(&status) {
        return Err(ConversationError::InvalidStatus(status.to_owned()));
    }
    update(pool, user_id, id, "status = $3", Value::Text(status)).await
}

/// Renames a conversation; the title is trimmed and must not be empty.
pub async fn rename(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    title: &str,
) -> Result<Conversation, ConversationError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ConversationError::EmptyTitle);
    }
    update(pool, user_id, id, "title = $3", Value::Text(title)).await
}

enum Value<'a> {
    Bool(bool),
    Text(&'a str),
}

/// `UPDATE ... SET {set}` on the user's conversation, `$3` bound to `value`.
async fn update(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    set: &str,
    value: Value<'_>,
) -> Result<Conversation, ConversationError> {
    let sql = format!(
        "UPDATE javari_conversations SET {set} WHERE id = $1 AND user_id = $2 \
         RETURNING {CONVERSATION_COLUMNS}"
    );
    let query = sqlx::query_as::<_, Conversation>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id);
    let query = match value {
        Value::Bool(b) => query.bind(b),
        Value::Text(t) => query.bind(t),
    };
    let mut tx = begin_as(pool, user_id).await?;
    let updated = query
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ConversationError::NotFound)?;
    tx.commit().await?;
    Ok(updated)
}
