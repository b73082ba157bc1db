//! Knowledge: uploads (txt, md, csv, json, pdf), the search API, and the knowledge page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use javari_core::chat::embed;
use javari_core::knowledge::{self, Document, NewDocument, SearchHit, Upload};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::error::{ApiError, PageError};
use crate::retrieval::{Retrieval, embedder, knowledge_error, retrieve};

/// Seconds a refused upload is told to wait before trying again.
const RETRY_AFTER_SECS: &str = "5";

/// The multipart form of `POST /api/javari/knowledge/upload` (documentation only: the
/// handler reads the fields as they stream in).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadRequest {
    /// The document: txt, md, csv, json or pdf, with a file name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Defaults to the file name.
    title: Option<String>,
    #[schema(rename = "projectId")]
    project_id: Option<Uuid>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    results: Vec<SearchHit>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentList {
    documents: Vec<Document>,
}

struct UploadForm {
    filename: String,
    bytes: axum::body::Bytes,
    title: Option<String>,
    project_id: Option<Uuid>,
}

async fn read_upload(mut multipart: Multipart) -> Result<UploadForm, ApiError> {
    let mut file = None;
    let mut title = None;
    let mut project_id = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::new(e.status(), format!("invalid upload: {}", e.body_text())))?
    {
        match field.name() {
            Some("file") => {
                let filename = field
                    .file_name()
                    .map(str::to_owned)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| ApiError::bad_request("the file field has no file name"))?;
                let bytes = field.bytes().await.map_err(|e| {
                    ApiError::new(e.status(), format!("upload failed: {}", e.body_text()))
                })?;
                file = Some((filename, bytes));
            }
            Some("title") => {
                title = field.text().await.ok().filter(|t| !t.trim().is_empty());
            }
            Some("projectId") => {
                let text = field.text().await.unwrap_or_default();
                if !text.trim().is_empty() {
                    project_id = Some(
                        text.trim()
                            .parse::<Uuid>()
                            .map_err(|_| ApiError::bad_request("projectId is not a UUID"))?,
                    );
                }
            }
            _ => {}
        }
    }
    let (filename, bytes) =
        file.ok_or_else(|| ApiError::bad_request("send the document in a `file` field"))?;
    if filename.contains('\0') || title.as_deref().is_some_and(|t| t.contains('\0')) {
        return Err(ApiError::bad_request(
            "file name and title must not contain NUL characters",
        ));
    }
    Ok(UploadForm {
        filename,
        bytes,
        title,
        project_id,
    })
}

/// A slot for one upload, or 503 when `upload_concurrency` uploads are being processed. Taken
/// before the body is read, so a refused upload costs nothing.
fn upload_slot(state: &AppState) -> Option<tokio::sync::OwnedSemaphorePermit> {
    state.uploads.clone().try_acquire_owned().ok()
}

/// 503 with Retry-After: every upload slot is taken.
fn busy(state: &AppState) -> Response {
    {
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} uploads are being processed, the most at once: try again in {RETRY_AFTER_SECS} seconds",
                state.settings.upload_concurrency
            ),
        )
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
        response
    }
}

/// Knowledge errors of an upload: 413 over the upload size, 422 for text or PDF streams over
/// their bounds, the search API's mapping otherwise.
fn upload_error(e: knowledge::KnowledgeError) -> ApiError {
    use knowledge::KnowledgeError as E;
    match e {
        E::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        E::TextTooLarge { .. } | E::PdfTooLarge { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        other => knowledge_error(other),
    }
}

async fn store(state: &AppState, user: &User, form: UploadForm) -> Result<Upload, ApiError> {
    let upload = knowledge::store_document_with(
        &state.db,
        NewDocument {
            user_id: Some(user.id),
            project_id: form.project_id,
            filename: &form.filename,
            title: form.title.as_deref(),
            bytes: &form.bytes,
        },
        &state.settings.extract_limits(),
    )
    .await
    .map_err(upload_error)?;
    drop(form);
    if !upload.duplicate
        && let Some((provider, model)) = embedder(state).await
    {
        // The document is stored either way; without vectors, full-text search finds it.
        let document = &upload.document;
        if let Err(e) = embed_document(
            state,
            &provider,
            &model,
            user.id,
            document.id,
            document.chunk_count,
        )
        .await
        {
            tracing::warn!(error = %e, document = %document.id, "embedding the upload failed");
        }
    }
    Ok(upload)
}

/// Embeds a document's chunks `embed_batch` at a time, each batch within
/// `embed_batch_timeout` (waiting for an embeddings slot included), so a large document gets
/// its vectors in many small requests rather than one that cannot finish.
pub(crate) async fn embed_document(
    state: &AppState,
    provider: &javari_core::chat::ProviderEntry,
    model: &str,
    owner: Uuid,
    document: Uuid,
    chunk_count: i32,
) -> Result<(), String> {
    let settings = &state.settings;
    let batch = i32::try_from(settings.embed_batch.max(1)).unwrap_or(i32::MAX);
    let mut from = 0;
    while from < chunk_count {
        let texts = knowledge::chunk_batch(&state.db, owner, document, from, batch)
            .await
            .map_err(|e| e.to_string())?;
        if texts.is_empty() {
            break;
        }
        let vectors = tokio::time::timeout(settings.embed_batch_timeout, async {
            let _slot = state.embeddings.acquire().await;
            embed(state.gateway.http(), provider, model, &texts).await
        })
        .await
        .map_err(|_| {
            format!(
                "chunks {from}.. got no vectors within {} s",
                settings.embed_batch_timeout.as_secs()
            )
        })?
        .map_err(|e| e.to_string())?;
        knowledge::set_chunk_embeddings(&state.db, owner, document, from, &vectors)
            .await
            .map_err(|e| e.to_string())?;
        from += i32::try_from(texts.len()).unwrap_or(i32::MAX);
    }
    Ok(())
}

/// `POST /api/javari/knowledge/upload` (multipart `file`, optional `title`, `projectId`).
#[utoipa::path(post, path = "/api/javari/knowledge/upload", tag = "knowledge",
    request_body(content = UploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = Upload),
        (status = 200, description = "The same content was stored already", body = Upload),
    ))]
pub async fn api_upload(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    multipart: Multipart,
) -> Response {
    let Some(_slot) = upload_slot(&state) else {
        return busy(&state);
    };
    let upload = match read_upload(multipart).await {
        Ok(form) => store(&state, &current.user, form).await,
        Err(e) => Err(e),
    };
    match upload {
        Ok(upload) => {
            let status = if upload.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(upload)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchParams {
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    query: String,
    /// 0 to 1 (default 0.7).
    #[schema(minimum = 0.0, maximum = 1.0)]
    threshold: Option<f64>,
    /// 1 to 20 (default 5).
    #[schema(minimum = 1, maximum = 20)]
    limit: Option<i64>,
    project_id: Option<Uuid>,
}

async fn search(
    state: &AppState,
    user: &User,
    params: &SearchParams,
) -> Result<Vec<SearchHit>, ApiError> {
    let query = params.query.trim();
    if query.is_empty() {
        return Err(ApiError::bad_request("query must not be empty"));
    }
    if query.contains('\0') {
        return Err(ApiError::bad_request(
            "query must not contain NUL characters",
        ));
    }
    if query.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "query must be at most 1,000 characters",
        ));
    }
    let threshold = params.threshold.unwrap_or(0.7);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ApiError::bad_request("threshold must be between 0 and 1"));
    }
    let limit = params.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 20"));
    }
    retrieve(
        state,
        user.id,
        Retrieval {
            query,
            threshold: Some(threshold),
            limit,
            project_id: params.project_id,
        },
    )
    .await
}

/// `POST /api/javari/knowledge/search`.
#[utoipa::path(post, path = "/api/javari/knowledge/search", tag = "knowledge",
    request_body = SearchParams,
    responses((status = 200, description = "The best matching chunks", body = SearchResults)))]
pub async fn api_search(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(params): ApiJson<SearchParams>,
) -> Result<impl IntoResponse, ApiError> {
    let results = search(&state, &current.user, &params).await?;
    Ok(Json(SearchResults { results }))
}

/// `GET /api/javari/knowledge/documents`.
#[utoipa::path(get, path = "/api/javari/knowledge/documents", tag = "knowledge",
    responses((status = 200, description = "The caller's and the shared documents", body = DocumentList)))]
pub async fn api_documents(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<impl IntoResponse, ApiError> {
    let documents = knowledge::list_documents(&state.db, current.user.id)
        .await
        .map_err(knowledge_error)?;
    Ok(Json(DocumentList { documents }))
}

#[derive(Template, WebTemplate)]
#[template(path = "knowledge.html")]
struct KnowledgePage {
    user: User,
    csrf: String,
    can_upload: bool,
    documents: Vec<Document>,
    query: String,
    results: Vec<SearchHit>,
    notice: String,
}

#[derive(Deserialize)]
pub struct PageParams {
    q: Option<String>,
    notice: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    let documents = knowledge::list_documents(&state.db, current.user.id)
        .await
        .map_err(knowledge_error)?;
    let query = params.q.unwrap_or_default();
    let results = if query.trim().is_empty() {
        Vec::new()
    } else {
        search(
            &state,
            &current.user,
            &SearchParams {
                query: query.clone(),
                threshold: Some(0.0),
                limit: Some(10),
                project_id: None,
            },
        )
        .await?
    };
    Ok(KnowledgePage {
        can_upload: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        documents,
        query,
        results,
        notice: params.notice.unwrap_or_default(),
    }
    .into_response())
}

/// `POST /knowledge/upload` from the page (the CSRF token travels in the query string).
pub async fn page_upload(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    multipart: Multipart,
) -> Response {
    let Some(_slot) = upload_slot(&state) else {
        return busy(&state);
    };
    match page_store(&state, &current.user, multipart).await {
        Ok(redirect) => redirect.into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

async fn page_store(
    state: &AppState,
    user: &User,
    multipart: Multipart,
) -> Result<Redirect, ApiError> {
    let form = read_upload(multipart).await?;
    let upload = store(state, user, form).await?;
    let notice = if upload.duplicate {
        "duplicate"
    } else {
        "uploaded"
    };
    Ok(Redirect::to(&format!("/knowledge?notice={notice}")))
}
