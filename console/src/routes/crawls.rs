//! Web crawl sources: the JSON API under `/api/javari/web-crawls` and the `/web-crawls` page.
//! Operators create, change, delete and crawl their sources; viewers see their own; admins
//! see every source and alone may allow one on a private network.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use chrono::Utc;
use javari_core::crawl::address::origin_of;
use javari_core::crawl::store::{self, Run, Source};
use javari_core::crawl::{SourceInput, validate_source};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::crawls::{crawl_error, crawl_now};
use crate::error::{ApiError, PageError};

/// Runs shown with a source.
const RUNS_SHOWN: i64 = 20;

/// A source with what the page and the API show beside it.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    #[serde(flatten)]
    pub source: Source,
    /// The admin's allowance covers the current start URL's origin.
    pub private_network_allowed: bool,
    pub last_run: Option<Run>,
}

async fn view(state: &AppState, user: &User, source: Source) -> Result<SourceView, ApiError> {
    let last_run = store::list_runs(&state.db, user.actor(), source.id, 1)
        .await
        .map_err(crawl_error)?
        .pop();
    let allowed = source.private_network_origin.is_some()
        && reqwest_origin(&source.url) == source.private_network_origin;
    Ok(SourceView {
        source,
        private_network_allowed: allowed,
        last_run,
    })
}

fn reqwest_origin(url: &str) -> Option<String> {
    javari_core::crawl::crawler::parse_url(url)
        .ok()
        .and_then(|u| origin_of(&u))
}

/// The source, if the user may see it (its owner, or an admin); 404 otherwise.
async fn visible(state: &AppState, user: &User, id: Uuid) -> Result<Source, ApiError> {
    let source = store::get_source(&state.db, user.actor(), id)
        .await
        .map_err(crawl_error)?;
    if source.user_id == user.id || user.role >= Role::Admin {
        Ok(source)
    } else {
        Err(ApiError::not_found("web crawl source"))
    }
}

async fn list(state: &AppState, user: &User) -> Result<Vec<SourceView>, ApiError> {
    let sources = store::list_sources(&state.db, user.actor())
        .await
        .map_err(crawl_error)?;
    let mut views = Vec::with_capacity(sources.len());
    for source in sources {
        views.push(view(state, user, source).await?);
    }
    Ok(views)
}

async fn create(state: &AppState, user: &User, input: &SourceInput) -> Result<Source, ApiError> {
    let wants_private = input.allow_private_network.unwrap_or(false);
    if wants_private && user.role < Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only an admin may allow a source on a private network",
        ));
    }
    let fields = validate_source(input, Utc::now()).map_err(crawl_error)?;
    let owned = store::count_sources(&state.db, user.id)
        .await
        .map_err(crawl_error)?;
    if owned >= store::MAX_SOURCES_PER_OWNER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("you have {owned} web sources, the most one user may have: delete one first"),
        ));
    }
    let source = store::create_source(&state.db, user.id, &fields)
        .await
        .map_err(crawl_error)?;
    if wants_private {
        let origin = reqwest_origin(&source.url);
        return store::set_private_origin(&state.db, source.id, origin.as_deref(), user.id)
            .await
            .map_err(crawl_error);
    }
    Ok(source)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SourceList {
    sources: Vec<SourceView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SourceBody {
    source: SourceView,
}

/// A source and its latest runs, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SourceWithRuns {
    source: SourceView,
    runs: Vec<Run>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunBody {
    run: Run,
}

/// `GET /api/javari/web-crawls`.
#[utoipa::path(get, path = "/api/javari/web-crawls", tag = "web-crawls",
    responses((status = 200, description = "The caller's sources (an admin's: every source)", body = SourceList)))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(SourceList {
        sources: list(&state, &current.user).await?,
    }))
}

/// `POST /api/javari/web-crawls`.
#[utoipa::path(post, path = "/api/javari/web-crawls", tag = "web-crawls",
    request_body = SourceInput,
    responses((status = 201, description = "The new source", body = SourceBody)))]
pub async fn api_create(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(input): ApiJson<SourceInput>,
) -> Result<impl IntoResponse, ApiError> {
    let source = create(&state, &current.user, &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(SourceBody {
            source: view(&state, &current.user, source).await?,
        }),
    ))
}

/// `GET /api/javari/web-crawls/{id}`: the source and its latest runs.
#[utoipa::path(get, path = "/api/javari/web-crawls/{id}", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    responses((status = 200, description = "The source and its latest runs", body = SourceWithRuns)))]
pub async fn api_get(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let source = visible(&state, &current.user, id).await?;
    let runs = store::list_runs(&state.db, current.user.actor(), id, RUNS_SHOWN)
        .await
        .map_err(crawl_error)?;
    Ok(Json(SourceWithRuns {
        source: view(&state, &current.user, source).await?,
        runs,
    }))
}

/// `PUT /api/javari/web-crawls/{id}`: replaces the source's settings (defaults for what is
/// left out, as on creation).
#[utoipa::path(put, path = "/api/javari/web-crawls/{id}", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    request_body = SourceInput,
    responses((status = 200, description = "The source as changed", body = SourceBody)))]
pub async fn api_update(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<SourceInput>,
) -> Result<impl IntoResponse, ApiError> {
    visible(&state, &current.user, id).await?;
    if input.allow_private_network.is_some() {
        return Err(ApiError::bad_request(
            "allowPrivateNetwork is changed with POST or DELETE /api/javari/web-crawls/{id}/private-network (admins)",
        ));
    }
    let fields = validate_source(&input, Utc::now()).map_err(crawl_error)?;
    let source = store::update_source(&state.db, current.user.actor(), id, &fields)
        .await
        .map_err(crawl_error)?;
    Ok(Json(SourceBody {
        source: view(&state, &current.user, source).await?,
    }))
}

/// `DELETE /api/javari/web-crawls/{id}`: the source, its runs and its crawled documents.
#[utoipa::path(delete, path = "/api/javari/web-crawls/{id}", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    visible(&state, &current.user, id).await?;
    store::delete_source(&state.db, current.user.actor(), id)
        .await
        .map_err(crawl_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/javari/web-crawls/{id}/crawl`: crawl now; 202 with the run to follow.
#[utoipa::path(post, path = "/api/javari/web-crawls/{id}/crawl", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    responses((status = 202, description = "The run started", body = RunBody)))]
pub async fn api_crawl(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let source = visible(&state, &current.user, id).await?;
    let run = crawl_now(&state, source).await?;
    Ok((StatusCode::ACCEPTED, Json(RunBody { run })))
}

/// `GET /api/javari/web-crawls/{id}/runs/{run}`.
#[utoipa::path(get, path = "/api/javari/web-crawls/{id}/runs/{run}", tag = "web-crawls",
    params(
        ("id" = Uuid, Path, description = "The source's id"),
        ("run" = Uuid, Path, description = "The run's id"),
    ),
    responses((status = 200, description = "The run", body = RunBody)))]
pub async fn api_run(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((id, run_id)): Path<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, ApiError> {
    visible(&state, &current.user, id).await?;
    let run = store::get_run(&state.db, current.user.actor(), id, run_id)
        .await
        .map_err(crawl_error)?;
    Ok(Json(RunBody { run }))
}

async fn set_private(
    state: &AppState,
    admin: &User,
    id: Uuid,
    allow: bool,
) -> Result<Source, ApiError> {
    let source = visible(state, admin, id).await?;
    let origin = if allow {
        Some(
            reqwest_origin(&source.url)
                .ok_or_else(|| ApiError::bad_request("the source's URL has no origin to allow"))?,
        )
    } else {
        None
    };
    tracing::info!(source = %id, admin = %admin.id, allow, "private network allowance changed");
    store::set_private_origin(&state.db, id, origin.as_deref(), admin.id)
        .await
        .map_err(crawl_error)
}

/// `POST /api/javari/web-crawls/{id}/private-network` (admins): the start URL's origin —
/// that scheme, host and port only — may be on a private, loopback or link-local address.
#[utoipa::path(post, path = "/api/javari/web-crawls/{id}/private-network", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    responses((status = 200, description = "The source as changed", body = SourceBody)))]
pub async fn api_allow_private(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let source = set_private(&state, &current.user, id, true).await?;
    Ok(Json(SourceBody {
        source: view(&state, &current.user, source).await?,
    }))
}

/// `DELETE /api/javari/web-crawls/{id}/private-network` (admins).
#[utoipa::path(delete, path = "/api/javari/web-crawls/{id}/private-network", tag = "web-crawls",
    params(("id" = Uuid, Path, description = "The source's id")),
    responses((status = 200, description = "The source as changed", body = SourceBody)))]
pub async fn api_revoke_private(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let source = set_private(&state, &current.user, id, false).await?;
    Ok(Json(SourceBody {
        source: view(&state, &current.user, source).await?,
    }))
}

#[derive(Template, WebTemplate)]
#[template(path = "web_crawls.html")]
struct CrawlsPage {
    user: User,
    csrf: String,
    can_edit: bool,
    is_admin: bool,
    sources: Vec<SourceView>,
    notice: String,
}

#[derive(Deserialize)]
pub struct PageParams {
    notice: Option<String>,
}

/// `GET /web-crawls`.
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    let sources = list(&state, &current.user).await?;
    Ok(CrawlsPage {
        can_edit: current.user.role >= Role::Operator,
        is_admin: current.user.role >= Role::Admin,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        sources,
        notice: params.notice.unwrap_or_default(),
    }
    .into_response())
}

/// The page's form: text fields, a list of URLs one a line.
#[derive(Deserialize)]
pub struct SourceForm {
    name: Option<String>,
    url: String,
    scope: Option<String>,
    path_prefix: Option<String>,
    urls: Option<String>,
    max_depth: Option<String>,
    max_pages: Option<String>,
    crawl_frequency: Option<String>,
}

fn number(field: &str, text: Option<&str>) -> Result<Option<i32>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{field} must be a whole number"))),
    }
}

/// `POST /web-crawls` from the page.
pub async fn page_create(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<SourceForm>,
) -> Result<Redirect, PageError> {
    let urls: Vec<String> = form
        .urls
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let input = SourceInput {
        name: form.name,
        url: form.url,
        scope: form.scope.filter(|s| !s.is_empty()),
        path_prefix: form.path_prefix,
        urls: (!urls.is_empty()).then_some(urls),
        max_depth: number("maxDepth", form.max_depth.as_deref())?,
        max_pages: number("maxPages", form.max_pages.as_deref())?,
        crawl_frequency: form.crawl_frequency,
        ..SourceInput::default()
    };
    create(&state, &current.user, &input).await?;
    Ok(Redirect::to("/web-crawls?notice=created"))
}

/// `POST /web-crawls/{id}/crawl` from the page.
pub async fn page_crawl(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    let source = visible(&state, &current.user, id).await?;
    crawl_now(&state, source).await?;
    Ok(Redirect::to("/web-crawls?notice=started"))
}

/// `POST /web-crawls/{id}/delete` from the page.
pub async fn page_delete(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    visible(&state, &current.user, id).await?;
    store::delete_source(&state.db, current.user.actor(), id)
        .await
        .map_err(crawl_error)?;
    Ok(Redirect::to("/web-crawls?notice=deleted"))
}

#[derive(Deserialize)]
pub struct PrivateForm {
    allow: Option<String>,
}

/// `POST /web-crawls/{id}/private-network` from the page (admins).
pub async fn page_private(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(form): Form<PrivateForm>,
) -> Result<Redirect, PageError> {
    let allow = form.allow.as_deref() == Some("true");
    set_private(&state, &current.user, id, allow).await?;
    Ok(Redirect::to("/web-crawls?notice=updated"))
}
