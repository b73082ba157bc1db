//! Listing and searching a user's conversations.

use sqlx::PgPool;
use uuid::Uuid;

use super::error::ConversationError;
use super::model::{CONVERSATION_COLUMNS, Conversation};

/// Page size when none (or a non-positive one) is asked for.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page served.
pub const MAX_LIMIT: i64 = 100;

/// Filters and page of [`list`], as the source API's `ConversationsQuery`.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// Default 50, at most 100.
    pub limit: i64,
    pub offset: i64,
    pub project_id: Option<Uuid>,
    /// Only this status; without it every status but 'deleted'.
    pub status: Option<String>,
    /// Words to find in titles, summaries and message contents.
    pub search: Option<String>,
    pub starred: Option<bool>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
            project_id: None,
            status: None,
            search: None,
            starred: None,
        }
    }
}

/// The filter shared by the page and the count. `$1` user, `$2` project, `$3` status,
/// `$4` starred, `$5` full-text query, `$6` ILIKE pattern on the title.
///
/// The message search is an `IN (subquery)`, which PostgreSQL runs once as a hashed subplan
/// over the GIN index on `javari_messages.content_tsv` (an `EXISTS` under `OR` would run per
/// conversation). The ILIKE on the title catches what full text drops: stop words, one-letter
/// words, fragments of words.
const FILTER: &str = "user_id = $1
    AND ($2::uuid IS NULL OR project_id = $2)
    AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
    AND ($4::boolean IS NULL OR starred = $4)
    AND ($5::text IS NULL
         OR search_tsv @@ websearch_to_tsquery('english', $5)
         OR id IN (SELECT m.conversation_id FROM javari_messages m
                   WHERE m.content_tsv @@ websearch_to_tsquery('english', $5))
         OR title ILIKE $6)";

/// A page of the user's conversations, newest activity first, and the total matching.
pub async fn list(
    pool: &PgPool,
    user_id: Uuid,
    q: &ListQuery,
) -> Result<(Vec<Conversation>, i64), ConversationError> {
    if let Some(status) = q.status.as_deref()
        && !super::model::STATUSES.contains(&status)
    {
        return Err(ConversationError::InvalidStatus(status.to_owned()));
    }
    let limit = if q.limit <= 0 {
        DEFAULT_LIMIT
    } else {
        q.limit.min(MAX_LIMIT)
    };
    let offset = q.offset.max(0);
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let pattern = search.map(|s| format!("%{}%", escape_like(s)));

    let page_sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM javari_conversations WHERE {FILTER}
         ORDER BY coalesce(last_message_at, created_at) DESC, id DESC
         LIMIT $7 OFFSET $8"
    );
    let mut tx = crate::db::begin_as(pool, user_id).await?;
    let rows = sqlx::query_as::<_, Conversation>(sqlx::AssertSqlSafe(page_sql))
        .bind(user_id)
        .bind(q.project_id)
        .bind(q.status.as_deref())
        .bind(q.starred)
        .bind(search)
        .bind(pattern.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await?;

    let count_sql = format!("SELECT count(*) FROM javari_conversations WHERE {FILTER}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(user_id)
        .bind(q.project_id)
        .bind(q.status.as_deref())
        .bind(q.starred)
        .bind(search)
        .bind(pattern.as_deref())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((rows, total))
}

/// Escapes `%`, `_` and `\` so `s` matches literally inside an ILIKE pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(escape_like("plain"), "plain");
    }
}
