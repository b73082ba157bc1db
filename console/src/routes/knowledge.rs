//! Knowledge: uploads (txt, md, csv, json, pdf), the search API, and the knowledge page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use javari_core::chat::embed;
use javari_core::knowledge::{self, Document, NewDocument, SearchHit, Upload};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::error::{ApiError, PageError};
use crate::retrieval::{Retrieval, embedder, knowledge_error, retrieve};

struct UploadForm {
    filename: String,
    bytes: Vec<u8>,
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
                file = Some((filename, bytes.to_vec()));
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

async fn store(state: &AppState, user: &User, form: UploadForm) -> Result<Upload, ApiError> {
    let upload = knowledge::store_document(
        &state.db,
        NewDocument {
            user_id: Some(user.id),
            project_id: form.project_id,
            filename: &form.filename,
            title: form.title.as_deref(),
            bytes: &form.bytes,
        },
    )
    .await
    .map_err(knowledge_error)?;
    if !upload.duplicate
        && let Some((provider, model)) = embedder(state).await
    {
        // The document is stored either way; without vectors, full-text search finds it.
        if let Err(e) = embed_document(state, &provider, &model, upload.document.id).await {
            tracing::warn!(error = %e, document = %upload.document.id, "embedding the upload failed");
        }
    }
    Ok(upload)
}

pub(crate) async fn embed_document(
    state: &AppState,
    provider: &javari_core::chat::ProviderEntry,
    model: &str,
    document: Uuid,
) -> Result<(), String> {
    let chunks = knowledge::chunks_of(&state.db, document)
        .await
        .map_err(|e| e.to_string())?;
    let vectors = embed(state.gateway.http(), provider, model, &chunks)
        .await
        .map_err(|e| e.to_string())?;
    knowledge::set_embeddings(&state.db, document, &vectors)
        .await
        .map_err(|e| e.to_string())
}

/// `POST /api/javari/knowledge/upload` (multipart `file`, optional `title`, `projectId`).
pub async fn api_upload(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    multipart: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let form = read_upload(multipart).await?;
    let upload = store(&state, &current.user, form).await?;
    let status = if upload.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({"document": upload.document, "duplicate": upload.duplicate})),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchParams {
    query: String,
    threshold: Option<f64>,
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
pub async fn api_search(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(params): ApiJson<SearchParams>,
) -> Result<impl IntoResponse, ApiError> {
    let results = search(&state, &current.user, &params).await?;
    Ok(Json(json!({ "results": results })))
}

/// `GET /api/javari/knowledge/documents`.
pub async fn api_documents(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<impl IntoResponse, ApiError> {
    let documents = knowledge::list_documents(&state.db, current.user.id)
        .await
        .map_err(knowledge_error)?;
    Ok(Json(json!({ "documents": documents })))
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
) -> Result<Redirect, PageError> {
    let form = read_upload(multipart).await?;
    let upload = store(&state, &current.user, form).await?;
    let notice = if upload.duplicate {
        "duplicate"
    } else {
        "uploaded"
    };
    Ok(Redirect::to(&format!("/knowledge?notice={notice}")))
}
