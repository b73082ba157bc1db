//! Knowledge retrieval shared by the search API and the chat: vector similarity when
//! pgvector and an embeddings-capable Provider exist, PostgreSQL full text otherwise.

use javari_core::chat::retrieval::{PROMPT_THRESHOLD_FULL_TEXT, PROMPT_THRESHOLD_VECTOR};
use javari_core::chat::{ProviderEntry, embed};
use javari_core::knowledge::{self, SearchHit, SearchQuery};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// The first embeddings-capable model of a routable provider, when vectors can be stored.
pub async fn embedder(state: &AppState) -> Option<(ProviderEntry, String)> {
    let providers = state.directory.providers().await.ok()?;
    javari_core::chat::retrieval::embedder(&state.db, &providers).await
}

pub fn knowledge_error(e: knowledge::KnowledgeError) -> ApiError {
    use axum::http::StatusCode;
    use knowledge::KnowledgeError as E;
    match e {
        E::Db(e) => ApiError::from(e),
        E::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        E::UnsupportedType { .. } => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

pub struct Retrieval<'a> {
    pub query: &'a str,
    /// `None`: the prompt thresholds above, by the kind of search that runs.
    pub threshold: Option<f64>,
    pub limit: i64,
    pub project_id: Option<Uuid>,
}

/// The best chunks for `r.query` among the user's and the shared documents.
pub async fn retrieve(
    state: &AppState,
    user_id: Uuid,
    r: Retrieval<'_>,
) -> Result<Vec<SearchHit>, ApiError> {
    let embedding = match embedder(state).await {
        Some((provider, model)) => {
            match embed(
                state.gateway.http(),
                &provider,
                &model,
                &[r.query.to_owned()],
            )
            .await
            {
                Ok(mut vectors) => vectors.pop(),
                Err(e) => {
                    tracing::warn!(error = %e, "embedding the query failed; using full text");
                    None
                }
            }
        }
        None => None,
    };
    let threshold = r.threshold.unwrap_or(if embedding.is_some() {
        PROMPT_THRESHOLD_VECTOR
    } else {
        PROMPT_THRESHOLD_FULL_TEXT
    });
    knowledge::search(
        &state.db,
        user_id,
        &SearchQuery {
            query: r.query,
            threshold,
            limit: r.limit,
            project_id: r.project_id,
            embedding,
        },
    )
    .await
    .map_err(knowledge_error)
}
