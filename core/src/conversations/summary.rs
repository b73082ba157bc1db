//! Rolling extractive summaries: older messages folded into one short text, so the context
//! sent to a model stays bounded however long the conversation grows.

use sqlx::PgPool;
use uuid::Uuid;

use super::error::ConversationError;

/// A summary keeps its newest lines within this many characters.
pub const SUMMARY_MAX_CHARS: usize = 2_000;
/// Each message contributes its first sentence, cut to this many characters.
const LINE_MAX_CHARS: usize = 200;

/// Deterministic extractive summary: the previous summary's lines, then one line per
/// message, `role: first sentence` (at most 200 characters). When the result is longer
/// than [`SUMMARY_MAX_CHARS`] the oldest lines are dropped, so the newest are kept.
pub fn summarize(previous: Option<&str>, messages: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = previous
        .into_iter()
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for (role, content) in messages {
        let sentence = first_sentence(content);
        if !sentence.is_empty() {
            lines.push(format!("{role}: {sentence}"));
        }
    }
    // Keep the newest lines that fit.
    let mut kept = Vec::new();
    let mut total = 0;
    for line in lines.iter().rev() {
        let len = line.chars().count() + usize::from(!kept.is_empty());
        if total + len > SUMMARY_MAX_CHARS {
            break;
        }
        total += len;
        kept.push(line.as_str());
    }
    kept.reverse();
    kept.join("\n")
}

/// The first sentence of `text` with whitespace collapsed, at most [`LINE_MAX_CHARS`].
fn first_sentence(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut end = collapsed.len();
    let mut chars = collapsed.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|(_, n)| *n == ' ') {
            end = i + c.len_utf8();
            break;
        }
    }
    let sentence = &collapsed[..end];
    if sentence.chars().count() <= LINE_MAX_CHARS {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(LINE_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Folds the messages not yet covered by the latest summary, except the last `keep_last`,
/// into a new summary row (`javari_conversation_summaries`) and `javari_conversations.summary`.
/// Returns false when there was nothing to fold. Concurrent calls are serialised on the
/// conversation row.
pub async fn refresh_summary(
    pool: &PgPool,
    user_id: Uuid,
    conversation_id: Uuid,
    keep_last: usize,
) -> Result<bool, ConversationError> {
    let mut tx = crate::db::begin_as(pool, user_id).await?;
    let previous: Option<Option<String>> =
        sqlx::query_scalar("SELECT summary FROM javari_conversations WHERE id = $1 FOR UPDATE")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
    let previous = previous.ok_or(ConversationError::NotFound)?;
    // Messages after the one the latest summary covers, oldest first.
    let uncovered: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, role, content FROM javari_messages
         WHERE conversation_id = $1
           AND created_at > coalesce((
               SELECT m.created_at FROM javari_conversation_summaries s
               JOIN javari_messages m ON m.id = s.up_to_message_id
               WHERE s.conversation_id = $1
               ORDER BY s.created_at DESC LIMIT 1), '-infinity')
         ORDER BY created_at, id",
    )
    .bind(conversation_id)
    .fetch_all(&mut *tx)
    .await?;
    if uncovered.len() <= keep_last {
        return Ok(false);
    }
    let fold = &uncovered[..uncovered.len() - keep_last];
    let pairs: Vec<(&str, &str)> = fold
        .iter()
        .map(|(_, role, content)| (role.as_str(), content.as_str()))
        .collect();
    let summary = summarize(previous.as_deref(), &pairs);
    let up_to = fold.last().map(|(id, _, _)| *id);
    // Rough token estimate: four characters a token.
    let token_count = i32::try_from(summary.chars().count().div_ceil(4)).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO javari_conversation_summaries
             (conversation_id, summary, token_count, up_to_message_id, model)
         VALUES ($1, $2, $3, $4, 'extractive')",
    )
    .bind(conversation_id)
    .bind(&summary)
    .bind(token_count)
    .bind(up_to)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE javari_conversations SET summary = $2 WHERE id = $1")
        .bind(conversation_id)
        .bind(&summary)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_message_with_first_sentence() {
        let s = summarize(
            None,
            &[
                ("user", "How do I roll back?  The deploy failed."),
                (
                    "assistant",
                    "Run `kubectl rollout undo`. Then check health.",
                ),
            ],
        );
        assert_eq!(
            s,
            "user: How do I roll back?\nassistant: Run `kubectl rollout undo`."
        );
    }

    #[test]
    fn previous_summary_is_kept_first() {
        let s = summarize(Some("user: earlier point"), &[("assistant", "Later.")]);
        assert_eq!(s, "user: earlier point\nassistant: Later.");
    }

    #[test]
    fn long_sentences_are_cut_and_empty_messages_skipped() {
        let long = "word ".repeat(100);
        let s = summarize(None, &[("user", &long), ("assistant", "   ")]);
        assert!(s.starts_with("user: word word"));
        assert!(s.ends_with('…'));
        assert!(s.chars().count() <= "user: ".len() + LINE_MAX_CHARS);
        assert_eq!(s.lines().count(), 1);
    }

    #[test]
    fn newest_lines_are_kept_within_the_limit() {
        let msgs: Vec<String> = (0..100)
            .map(|i| format!("message number {i} with some padding text to make it longer."))
            .collect();
        let pairs: Vec<(&str, &str)> = msgs.iter().map(|m| ("user", m.as_str())).collect();
        let s = summarize(None, &pairs);
        assert!(s.chars().count() <= SUMMARY_MAX_CHARS);
        assert!(s.ends_with("message number 99 with some padding text to make it longer."));
        assert!(!s.contains("message number 0 "));
        assert_eq!(s, summarize(None, &pairs), "deterministic");
    }

    #[test]
    fn unicode_is_safe() {
        let text = "é".repeat(500);
        let s = summarize(None, &[("user", &text)]);
        assert!(s.chars().count() <= "user: ".len() + LINE_MAX_CHARS);
    }

    #[test]
    fn decimals_do_not_end_sentences() {
        assert_eq!(first_sentence("Costs 1.5 USD. More."), "Costs 1.5 USD.");
    }
}
