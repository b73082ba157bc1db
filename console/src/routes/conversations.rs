//! Conversations: the seeds' JSON API and the list page with search, star and status filters.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use javari_core::conversations::{self, Conversation, ListQuery, NewConversation, StoredMessage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::error::{ApiError, PageError};

/// Query parameters of `GET /api/javari/conversations` and of the list page.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Not negative (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// A project's UUID.
    project_id: Option<String>,
    status: Option<String>,
    /// Words in the title or the messages.
    search: Option<String>,
    /// `true` or `false`.
    starred: Option<String>,
}

/// A page of the caller's conversations.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    conversations: Vec<Conversation>,
    total: i64,
    limit: i64,
    offset: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationBody {
    conversation: Conversation,
}

/// A conversation and its messages, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationWithMessages {
    conversation: Conversation,
    messages: Vec<StoredMessage>,
}

impl ListParams {
    fn to_query(&self) -> Result<ListQuery, ApiError> {
        // PostgreSQL's text cannot hold NUL.
        if [&self.project_id, &self.status, &self.search, &self.starred]
            .into_iter()
            .flatten()
            .any(|v| v.contains('\0'))
        {
            return Err(ApiError::bad_request(
                "query parameters must not contain NUL characters",
            ));
        }
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request("limit must be between 1 and 100"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        let project_id = match self.project_id.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => Some(
                p.parse::<Uuid>()
                    .map_err(|_| ApiError::bad_request("projectId is not a UUID"))?,
            ),
        };
        let starred = match self.starred.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("true" | "1" | "on") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => return Err(ApiError::bad_request("starred must be true or false")),
        };
        Ok(ListQuery {
            limit,
            offset,
            project_id,
            status: self.status.clone().filter(|s| !s.is_empty()),
            search: self
                .search
                .clone()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            starred,
        })
    }
}

/// `GET /api/javari/conversations`: the caller's conversations, newest first.
#[utoipa::path(get, path = "/api/javari/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, description = "A page of conversations", body = ConversationList)))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let query = params.to_query()?;
    let (conversations, total) = conversations::list(&state.db, current.user.id, &query).await?;
    Ok(Json(ConversationList {
        conversations,
        total,
        limit: query.limit,
        offset: query.offset,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateParams {
    /// At most 200 characters.
    #[schema(max_length = 200)]
    title: Option<String>,
    project_id: Option<Uuid>,
    parent_id: Option<Uuid>,
}

/// `POST /api/javari/conversations`.
#[utoipa::path(post, path = "/api/javari/conversations", tag = "conversations",
    request_body = CreateParams,
    responses((status = 201, description = "The new conversation", body = ConversationBody)))]
pub async fn api_create(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(params): ApiJson<CreateParams>,
) -> Result<impl IntoResponse, ApiError> {
    if params
        .title
        .as_deref()
        .is_some_and(|t| t.chars().count() > 200)
    {
        return Err(ApiError::bad_request(
            "title must be at most 200 characters",
        ));
    }
    let conversation = conversations::create(
        &state.db,
        current.user.id,
        NewConversation {
            id: None,
            title: params.title.filter(|t| !t.trim().is_empty()),
            project_id: params.project_id,
            parent_id: params.parent_id,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ConversationBody { conversation })))
}

/// `GET /api/javari/conversations/{id}`.
#[utoipa::path(get, path = "/api/javari/conversations/{id}", tag = "conversations",
    params(("id" = Uuid, Path, description = "The conversation's id")),
    responses((status = 200, description = "The conversation and its messages", body = ConversationWithMessages)))]
pub async fn api_get(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = owned(&state, &current.user, id).await?;
    let messages = conversations::messages(&state.db, current.user.id, id, 500, None).await?;
    Ok(Json(ConversationWithMessages {
        conversation,
        messages,
    }))
}

async fn owned(state: &AppState, user: &User, id: Uuid) -> Result<Conversation, ApiError> {
    conversations::get(&state.db, user.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParams {
    starred: Option<bool>,
    /// `active`, `archived`, `deleted`, `paused` or `completed`.
    status: Option<String>,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
}

/// `PATCH /api/javari/conversations/{id}`: star, status, title.
#[utoipa::path(patch, path = "/api/javari/conversations/{id}", tag = "conversations",
    params(("id" = Uuid, Path, description = "The conversation's id")),
    request_body = UpdateParams,
    responses((status = 200, description = "The conversation as changed", body = ConversationBody)))]
pub async fn api_update(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(update): ApiJson<UpdateParams>,
) -> Result<impl IntoResponse, ApiError> {
    owned(&state, &current.user, id).await?;
    if let Some(title) = &update.title {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(ApiError::bad_request("title must be 1 to 200 characters"));
        }
    }
    let mut conversation = None;
    if let Some(status) = &update.status {
        conversation =
            Some(conversations::set_status(&state.db, current.user.id, id, status).await?);
    }
    if let Some(starred) = update.starred {
        conversation =
            Some(conversations::set_starred(&state.db, current.user.id, id, starred).await?);
    }
    if let Some(title) = &update.title {
        conversations::rename(&state.db, current.user.id, id, title.trim()).await?;
        conversation = None;
    }
    let conversation = match conversation {
        Some(c) => c,
        None => owned(&state, &current.user, id).await?,
    };
    Ok(Json(ConversationBody { conversation }))
}

/// `POST /api/javari/conversations/{id}/continue`: a child conversation that carries the
/// parent's summary.
#[utoipa::path(post, path = "/api/javari/conversations/{id}/continue", tag = "conversations",
    params(("id" = Uuid, Path, description = "The parent conversation's id")),
    responses((status = 201, description = "The child conversation", body = ConversationBody)))]
pub async fn api_continue(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let child = continue_from(&state, &current.user, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConversationBody {
            conversation: child,
        }),
    ))
}

/// `POST /conversations/{id}/continue` from the chat page: opens the child.
pub async fn continue_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    let child = continue_from(&state, &current.user, id).await?;
    Ok(Redirect::to(&format!("/chat?c={}", child.id)))
}

async fn continue_from(state: &AppState, user: &User, id: Uuid) -> Result<Conversation, ApiError> {
    let parent = owned(state, user, id).await?;
    Ok(conversations::create(
        &state.db,
        user.id,
        NewConversation {
            id: None,
            title: Some(format!("{} (continued)", parent.title)),
            project_id: parent.project_id,
            parent_id: Some(parent.id),
        },
    )
    .await?)
}

#[derive(Template, WebTemplate)]
#[template(path = "conversations.html")]
struct ListPage {
    user: User,
    csrf: String,
    can_edit: bool,
    conversations: Vec<Conversation>,
    total: i64,
    search: String,
    starred_only: bool,
    status: String,
    limit: i64,
    next_offset: Option<i64>,
    prev_offset: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let query = params.to_query()?;
    let (conversations, total) = conversations::list(&state.db, current.user.id, &query).await?;
    let next = query.offset + query.limit;
    Ok(ListPage {
        can_edit: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        conversations,
        total,
        search: query.search.clone().unwrap_or_default(),
        starred_only: query.starred == Some(true),
        status: query.status.clone().unwrap_or_default(),
        limit: query.limit,
        next_offset: (next < total).then_some(next),
        prev_offset: (query.offset > 0).then(|| (query.offset - query.limit).max(0)),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct StarForm {
    starred: Option<String>,
}

/// `POST /conversations/{id}/star` from the list page.
pub async fn star(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(form): Form<StarForm>,
) -> Result<Redirect, PageError> {
    let starred = form.starred.as_deref() == Some("true");
    conversations::set_starred(&state.db, current.user.id, id, starred).await?;
    Ok(Redirect::to("/conversations"))
}
