//! Searching the knowledge base: by embedding similarity (pgvector) or by full text.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::error::KnowledgeError;
use super::vector::{VectorSupport, quote_ident, vector_literal, vector_support};

/// Similarity a hit must reach when the caller does not say (the source API's default).
pub const DEFAULT_THRESHOLD: f64 = 0.7;
/// Hits returned when the caller does not say.
pub const DEFAULT_SEARCH_LIMIT: i64 = 5;
/// Most hits returned.
pub const MAX_SEARCH_LIMIT: i64 = 20;

/// One matching chunk, in the source API's shape.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
pub struct SearchHit {
    pub id: Uuid,
    pub document_id: Uuid,
    pub document_name: String,
    pub content: String,
    /// 0..1; see [`search`] for what it measures.
    pub similarity: f64,
    pub chunk_index: i32,
    /// For a crawled page: its URL, the citation.
    pub source_url: Option<String>,
}

/// A knowledge search.
#[derive(Clone, Debug)]
pub struct SearchQuery<'a> {
    pub query: &'a str,
    /// Hits below this similarity are left out (clamped to 0..1).
    pub threshold: f64,
    /// Default 5 (for 0 or less), at most 20.
    pub limit: i64,
    /// Only documents of this project.
    pub project_id: Option<Uuid>,
    /// The query's embedding (1536 dimensions), for vector search.
    pub embedding: Option<Vec<f32>>,
}

impl<'a> SearchQuery<'a> {
    /// A full-text query with the default threshold and limit.
    pub fn new(query: &'a str) -> Self {
        Self {
            query,
            threshold: DEFAULT_THRESHOLD,
            limit: DEFAULT_SEARCH_LIMIT,
            project_id: None,
            embedding: None,
        }
    }
}

/// Searches the user's documents and the shared ones (and only the project's, when given).
///
/// - With an `embedding`, where the database has pgvector: `similarity` is the cosine
///   similarity `1 - (embedding <=> query)` (negative values shown as 0), best first, through
///   the HNSW index. The plain index scan stops after `ef_search` candidates and filters by
///   user afterwards, so a user's hits would thin out as other users' chunks grow: with
///   pgvector 0.8 or later the scan is iterative (`hnsw.iterative_scan = relaxed_order`), and
///   when it still brings fewer than `limit` hits the query runs again without the index
///   (exact, over the caller's own and shared chunks only). So `limit` hits come back whenever
///   the caller has that many above the threshold.
/// - Otherwise PostgreSQL full text: a chunk matches when it contains ANY of the query's words
///   (stemmed, English stop words ignored), and `similarity` is the fraction of the query's
///   distinct words it contains — so `threshold` 0.5 means "at least half of the words".
///   Hits are ranked by `ts_rank_cd` (cover density), then similarity. A query of stop words
///   only finds nothing.
pub async fn search(
    pool: &PgPool,
    user_id: Uuid,
    q: &SearchQuery<'_>,
) -> Result<Vec<SearchHit>, KnowledgeError> {
    let threshold = if q.threshold.is_finite() {
        q.threshold.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let limit = if q.limit <= 0 {
        DEFAULT_SEARCH_LIMIT
    } else {
        q.limit.min(MAX_SEARCH_LIMIT)
    };
    if let Some(embedding) = &q.embedding {
        let literal = vector_literal(embedding)?;
        if let Some(support) = vector_support(pool).await? {
            return vector_search(pool, user_id, q, &support, &literal, threshold, limit).await;
        }
    }
    text_search(pool, user_id, q, threshold, limit).await
}

async fn vector_search(
    pool: &PgPool,
    user_id: Uuid,
    q: &SearchQuery<'_>,
    support: &VectorSupport,
    literal: &str,
    threshold: f64,
    limit: i64,
) -> Result<Vec<SearchHit>, KnowledgeError> {
    let s = quote_ident(&support.schema);
    // The relaxed order of an iterative scan is put right by the outer ORDER BY (the
    // MATERIALIZED CTE keeps the planner from folding it away), as pgvector documents.
    let sql = format!(
        "WITH hits AS MATERIALIZED (
             SELECT c.id, c.document_id, d.filename AS document_name, c.content,
                    c.embedding OPERATOR({s}.<=>) $1::text::{s}.vector AS distance,
                    c.chunk_index, d.source_url
             FROM javari_document_chunks c
             JOIN javari_knowledge_documents d ON d.id = c.document_id
             WHERE c.embedding IS NOT NULL
               AND (d.user_id = $2 OR d.user_id IS NULL)
               AND ($3::uuid IS NULL OR d.project_id = $3)
               AND d.status = 'ready'
               AND 1 - (c.embedding OPERATOR({s}.<=>) $1::text::{s}.vector) >= $4
             ORDER BY c.embedding OPERATOR({s}.<=>) $1::text::{s}.vector
             LIMIT $5
         )
         SELECT id, document_id, document_name, content,
                greatest(0, 1 - distance)::float8 AS similarity, chunk_index, source_url
         FROM hits ORDER BY distance, document_id, chunk_index"
    );
    let run = |exact: bool| {
        let sql = sql.clone();
        async move {
            let mut tx = crate::db::begin_as(pool, user_id).await?;
            let setting = if exact {
                // Without index scans the plan reads the caller's chunks (by document, through
                // bitmap scans) and sorts them: exact, and bounded by what the caller owns.
                "SELECT set_config('enable_indexscan', 'off', true)"
            } else if support.iterative_scan {
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"
            } else {
                "SELECT 1"
            };
            sqlx::query(setting).execute(&mut *tx).await?;
            let hits = sqlx::query_as::<_, SearchHit>(sqlx::AssertSqlSafe(sql))
                .bind(literal)
                .bind(user_id)
                .bind(q.project_id)
                .bind(threshold)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, KnowledgeError>(hits)
        }
    };
    let hits = run(false).await?;
    if i64::try_from(hits.len()).unwrap_or(i64::MAX) >= limit {
        return Ok(hits);
    }
    // The index scan stopped before finding `limit` of the caller's chunks (its memory or
    // tuple budget ran out among other users' chunks, or there are fewer): the exact answer.
    run(true).await
}

/// Full-text search; see [`search`].
async fn text_search(
    pool: &PgPool,
    user_id: Uuid,
    q: &SearchQuery<'_>,
    threshold: f64,
    limit: i64,
) -> Result<Vec<SearchHit>, KnowledgeError> {
    let any_word = any_word_query(q.query);
    if any_word.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = crate::db::begin_as(pool, user_id).await?;
    let hits = sqlx::query_as::<_, SearchHit>(
        "WITH q AS (
             SELECT websearch_to_tsquery('english', $1) AS tsq,
                    tsvector_to_array(to_tsvector('english', $1)) AS words
         ),
         hits AS (
             SELECT c.id, c.document_id, d.filename AS document_name, c.content, c.chunk_index,
                    d.source_url,
                    ts_rank_cd(c.content_tsv, q.tsq) AS rank,
                    cardinality(ARRAY(
                        SELECT unnest(q.words)
                        INTERSECT
                        SELECT unnest(tsvector_to_array(c.content_tsv))
                    ))::float8 / greatest(cardinality(q.words), 1) AS similarity
             FROM q, javari_document_chunks c
             JOIN javari_knowledge_documents d ON d.id = c.document_id
             WHERE c.content_tsv @@ q.tsq
               AND (d.user_id = $2 OR d.user_id IS NULL)
               AND ($3::uuid IS NULL OR d.project_id = $3)
               AND d.status = 'ready'
         )
         SELECT id, document_id, document_name, content, similarity, chunk_index, source_url
         FROM hits WHERE similarity >= $4
         ORDER BY rank DESC, similarity DESC, document_id, chunk_index
         LIMIT $5",
    )
    .bind(&any_word)
    .bind(user_id)
    .bind(q.project_id)
    .bind(threshold)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(hits)
}

/// The query's words joined with `or`, for `websearch_to_tsquery`: any word matches. Only
/// letters and digits are kept, so no word is read as an operator (`-`, quotes) and the
/// user's own "or" is dropped.
fn any_word_query(query: &str) -> String {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("or"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::any_word_query;

    #[test]
    fn words_are_or_ed_and_operators_dropped() {
        assert_eq!(
            any_word_query("\"rotate\" -credentials or keys!"),
            "rotate or credentials or keys"
        );
        assert_eq!(any_word_query("  -- "), "");
    }
}
