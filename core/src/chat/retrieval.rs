//! Knowledge for a chat prompt: vector similarity when pgvector and an embeddings-capable
//! Provider exist, PostgreSQL full text otherwise.

use sqlx::PgPool;
use uuid::Uuid;

use super::embeddings::embed;
use super::types::ProviderEntry;
use crate::knowledge::{self, KnowledgeError, SearchHit, SearchQuery};

/// Similarities below these are not worth a place in a prompt: cosine similarity of
/// embeddings, and for full text the share of the question's words a chunk contains.
pub const PROMPT_THRESHOLD_VECTOR: f64 = 0.3;
pub const PROMPT_THRESHOLD_FULL_TEXT: f64 = 0.5;

/// The first embeddings-capable model among `providers`, when vectors can be stored.
pub async fn embedder(db: &PgPool, providers: &[ProviderEntry]) -> Option<(ProviderEntry, String)> {
    if !knowledge::vector_search_available(db)
        .await
        .unwrap_or(false)
    {
        return None;
    }
    providers.iter().find_map(|p| {
        p.models
            .iter()
            .find(|m| m.can(javari_crds::provider::Capability::Embeddings))
            .map(|m| (p.clone(), m.name.clone()))
    })
}

/// The best `limit` chunks for `query` among the user's and the shared documents.
pub async fn prompt_knowledge(
    db: &PgPool,
    http: &reqwest::Client,
    providers: &[ProviderEntry],
    user_id: Uuid,
    query: &str,
    limit: i64,
    project_id: Option<Uuid>,
) -> Result<Vec<SearchHit>, KnowledgeError> {
    let embedding = match embedder(db, providers).await {
        Some((provider, model)) => {
            match embed(http, &provider, &model, &[query.to_owned()]).await {
                Ok(mut vectors) => vectors.pop(),
                Err(e) => {
                    tracing::warn!(error = %e, "embedding the query failed; using full text");
                    None
                }
            }
        }
        None => None,
    };
    let threshold = if embedding.is_some() {
        PROMPT_THRESHOLD_VECTOR
    } else {
        PROMPT_THRESHOLD_FULL_TEXT
    };
    knowledge::search(
        db,
        user_id,
        &SearchQuery {
            query,
            threshold,
            limit,
            project_id,
            embedding,
        },
    )
    .await
}
