//! The console's side of web crawling: crawls started now (bounded, in the background),
//! the schedule, and embeddings for what a crawl stored.

use std::sync::Arc;

use javari_core::crawl::scheduler::{self, JobScheduler, JobSchedulerError};
use javari_core::crawl::{CrawlError, CrawlJob, OnStored, Run, Source, Trigger};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::retrieval::embedder;

/// Computes embeddings for the documents a crawl stored, when vectors can be stored;
/// full-text search finds them either way.
pub async fn embed_documents(state: &AppState, owner: Uuid, documents: &[Uuid]) {
    if documents.is_empty() {
        return;
    }
    let Some((provider, model)) = embedder(state).await else {
        return;
    };
    for document in documents {
        let chunks = match javari_core::knowledge::chunk_count(&state.db, owner, *document).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, %document, "cannot count a crawled page's chunks");
                continue;
            }
        };
        if let Err(e) =
            crate::routes::embed_document(state, &provider, &model, owner, *document, chunks).await
        {
            tracing::warn!(error = %e, %document, "embedding a crawled page failed");
        }
    }
}

/// Embeds what a crawl stored before its run is written as finished.
fn on_stored(state: AppState) -> OnStored {
    Arc::new(move |owner: Uuid, documents: Vec<Uuid>| {
        let state = state.clone();
        Box::pin(async move { embed_documents(&state, owner, &documents).await })
    })
}

/// Starts the crawl schedule of this replica (one replica crawls at a time).
pub async fn start_schedule(state: &AppState) -> Result<JobScheduler, JobSchedulerError> {
    scheduler::start(
        state.db.clone(),
        state.settings.crawl_limits.clone(),
        Some(on_stored(state.clone())),
    )
    .await
}

pub fn crawl_error(e: CrawlError) -> ApiError {
    use axum::http::StatusCode;
    match e {
        CrawlError::NotFound => ApiError::not_found("web crawl source"),
        CrawlError::Busy => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        CrawlError::Db(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            ApiError::bad_request("projectId names no project")
        }
        CrawlError::Db(e) => ApiError::from(e),
        CrawlError::Client(e) => ApiError::internal("cannot start the crawler", e),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// Starts a crawl of `source` in the background; its run, to follow. 409 when one is
/// running, 503 when the console already runs as many crawls as it may.
pub async fn crawl_now(state: &AppState, source: Source) -> Result<Run, ApiError> {
    let permit = state.crawl_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} crawls are running already: try again when one has finished",
                state.settings.max_concurrent_crawls
            ),
        )
    })?;
    let job = CrawlJob::begin(&state.db, source, Trigger::Manual)
        .await
        .map_err(crawl_error)?;
    let run = job.run.clone();
    let state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let source = job.source.id;
        let hook = on_stored(state.clone());
        if let Err(e) = job
            .execute(&state.db, &state.settings.crawl_limits, Some(&hook))
            .await
        {
            tracing::error!(%source, error = %e, "crawl failed");
        }
    });
    Ok(run)
}
