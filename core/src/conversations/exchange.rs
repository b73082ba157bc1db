//! Recording one question and its answer, with the totals, cost and provider performance
//! they imply, atomically.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::budget::billing_period;
use super::error::ConversationError;
use super::model::DEFAULT_TITLE;
use super::reservations::BUDGET_CHANNEL;

/// Titles derived from the first message are cut to about this many characters.
const TITLE_MAX_CHARS: usize = 60;

/// The budget reservation an exchange settles, and the console that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    pub reservation: Uuid,
    pub origin: Uuid,
}

/// One question and its answer.
#[derive(Clone, Debug)]
pub struct Exchange<'a> {
    pub user_id: Uuid,
    pub conversation_id: Uuid,
    pub user_message: &'a str,
    pub answer: &'a str,
    /// The Provider that answered, for `javari_provider_performance` (none: not recorded).
    pub provider_id: Option<Uuid>,
    pub provider: &'a str,
    pub model: &'a str,
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost_usd: f64,
    pub latency_ms: i32,
    /// The answer was cut short (client gone, stream aborted, length limit).
    pub truncated: bool,
    pub error: Option<&'a str>,
    /// Knowledge citations of the answer, stored in the message's metadata.
    pub citations: serde_json::Value,
    /// e.g. "chat", "code"; recorded with the cost and the provider performance.
    pub task_type: &'a str,
    /// When the answer completed; sets the billing period and the messages' times (the
    /// question at `now`, the answer a microsecond later, so they sort in order).
    pub now: DateTime<Utc>,
}

/// Stores the exchange in one transaction: both messages, the conversation's totals (and its
/// title, when still the default), a cost row (skipped for a truncated answer that cost
/// nothing) and, with a provider id, a performance row. Returns the ids of the user's and the
/// assistant's messages. [`ConversationError::NotFound`] when the conversation is not the user's.
pub async fn record_exchange(
    pool: &PgPool,
    ex: &Exchange<'_>,
) -> Result<(Uuid, Uuid), ConversationError> {
    record_exchange_settling(pool, ex, None).await
}

/// [`record_exchange`] that also settles the answer's budget reservation in the same
/// transaction (the reservation is replaced by the cost row) and tells every console that
/// the user's spending changed (`user_id/origin`, so the console that settled can skip it).
pub async fn record_exchange_settling(
    pool: &PgPool,
    ex: &Exchange<'_>,
    settle: Option<Settle>,
) -> Result<(Uuid, Uuid), ConversationError> {
    let input_tokens = ex.input_tokens.max(0);
    let output_tokens = ex.output_tokens.max(0);
    let cost = if ex.cost_usd.is_finite() {
        ex.cost_usd.max(0.0)
    } else {
        0.0
    };
    let latency = ex.latency_ms.max(0);
    let title = title_from_message(ex.user_message);
    let mut tx = crate::db::begin_as(pool, ex.user_id).await?;

    // First, so concurrent exchanges on one conversation queue on its row.
    let updated = sqlx::query(
        "UPDATE javari_conversations SET
             input_tokens = input_tokens + $3,
             output_tokens = output_tokens + $4,
             total_tokens = total_tokens + $3 + $4,
             cost_usd = cost_usd + $5::float8::numeric,
             message_count = message_count + 2,
             last_message_at = greatest(last_message_at, $6),
             model = $7,
             provider = $8,
             title = CASE WHEN title = $9 AND $10::text IS NOT NULL THEN $10 ELSE title END
         WHERE id = $1 AND user_id = $2",
    )
    .bind(ex.conversation_id)
    .bind(ex.user_id)
    .bind(i64::from(input_tokens))
    .bind(i64::from(output_tokens))
    .bind(cost)
    .bind(ex.now + TimeDelta::microseconds(1))
    .bind(ex.model)
    .bind(ex.provider)
    .bind(DEFAULT_TITLE)
    .bind(title.as_deref())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ConversationError::NotFound);
    }

    let user_message_id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_messages (conversation_id, user_id, role, content, created_at)
         VALUES ($1, $2, 'user', $3, $4) RETURNING id",
    )
    .bind(ex.conversation_id)
    .bind(ex.user_id)
    .bind(ex.user_message)
    .bind(ex.now)
    .fetch_one(&mut *tx)
    .await?;

    let metadata = serde_json::json!({ "truncated": ex.truncated, "citations": ex.citations });
    let assistant_message_id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_messages (conversation_id, user_id, role, content, model, provider,
             input_tokens, output_tokens, cost_usd, latency_ms, error, metadata, created_at)
         VALUES ($1, $2, 'assistant', $3, $4, $5, $6, $7, $8::float8::numeric, $9, $10, $11, $12)
         RETURNING id",
    )
    .bind(ex.conversation_id)
    .bind(ex.user_id)
    .bind(ex.answer)
    .bind(ex.model)
    .bind(ex.provider)
    .bind(input_tokens)
    .bind(output_tokens)
    .bind(cost)
    .bind(latency)
    .bind(ex.error)
    .bind(&metadata)
    .bind(ex.now + TimeDelta::microseconds(1))
    .fetch_one(&mut *tx)
    .await?;

    if !(ex.truncated && cost == 0.0) {
        sqlx::query(
            "INSERT INTO javari_cost_tracking (user_id, conversation_id, provider, model,
                 input_tokens, output_tokens, cost_usd, task_type, billing_period, metadata,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::float8::numeric, $8, $9, $10, $11)",
        )
        .bind(ex.user_id)
        .bind(ex.conversation_id)
        .bind(ex.provider)
        .bind(ex.model)
        .bind(input_tokens)
        .bind(output_tokens)
        .bind(cost)
        .bind(ex.task_type)
        .bind(billing_period(ex.now))
        .bind(serde_json::json!({ "message_id": assistant_message_id, "truncated": ex.truncated }))
        .bind(ex.now)
        .execute(&mut *tx)
        .await?;
    }

    if let Some(provider_id) = ex.provider_id {
        sqlx::query(
            "INSERT INTO javari_provider_performance (provider_id, model, task_type, success,
                 latency_ms, input_tokens, output_tokens, error, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(provider_id)
        .bind(ex.model)
        .bind(ex.task_type)
        .bind(!ex.truncated && ex.error.is_none())
        .bind(latency)
        .bind(input_tokens)
        .bind(output_tokens)
        .bind(ex.error)
        .bind(ex.now)
        .execute(&mut *tx)
        .await?;
    }

    if let Some(settle) = settle {
        sqlx::query(
            "WITH settled AS (DELETE FROM javari_budget_reservations WHERE id = $1)
             SELECT pg_notify($2, $3)",
        )
        .bind(settle.reservation)
        .bind(BUDGET_CHANNEL)
        .bind(format!("{}/{}", ex.user_id, settle.origin))
        .execute(&mut *tx)
        .await?;
    }

    tx.commit().await?;
    Ok((user_message_id, assistant_message_id))
}

/// A title from a first message: whitespace collapsed, at most ~60 characters cut on a word
/// boundary (with "…" when cut); `None` for a blank message.
pub fn title_from_message(message: &str) -> Option<String> {
    let words: Vec<&str> = message.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let full = words.join(" ");
    if full.chars().count() <= TITLE_MAX_CHARS {
        return Some(full);
    }
    let mut title = String::new();
    for word in &words {
        let extra = word.chars().count() + usize::from(!title.is_empty());
        if title.chars().count() + extra > TITLE_MAX_CHARS {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        // One very long word: cut it.
        title = full.chars().take(TITLE_MAX_CHARS).collect();
    }
    title.push('…');
    Some(title)
}

#[cfg(test)]
mod tests {
    use super::title_from_message;

    #[test]
    fn short_messages_are_the_title() {
        assert_eq!(
            title_from_message("  Why is   the deploy red? ").as_deref(),
            Some("Why is the deploy red?")
        );
        assert_eq!(title_from_message(" \n "), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_word_boundary() {
        let t = title_from_message(
            "Please explain how the credential rotation grace period interacts with restarts",
        )
        .expect("title");
        assert_eq!(
            t,
            "Please explain how the credential rotation grace period…"
        );
        assert!(t.chars().count() <= 61);
    }

    #[test]
    fn one_long_word_is_cut() {
        let t = title_from_message(&"x".repeat(100)).expect("title");
        assert_eq!(t.chars().count(), 61);
    }
}
