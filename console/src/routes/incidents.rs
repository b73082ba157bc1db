//! Incidents: the JSON API under `/api/javari/incidents` and the `/incidents` pages. Viewers
//! read; operators declare, acknowledge, annotate, re-grade, resolve and merge. Every change is
//! core's (`javari_core::incidents`), with its timeline event; handlers translate to HTTP.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use javari_core::incidents::{
    self as core_incidents, Declaration, Incident, IncidentError, IncidentStatus, Mover, Notice,
    Role as IncidentRole, TimelineEvent,
};
use javari_core::runbooks::{RunRow, Source, runs_of};
use javari_crds::common::Severity;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::ApiJson;
use super::runbooks::run_error;
use crate::AppState;
use crate::auth::{CurrentUser, User};
use crate::error::{ApiError, PageError};

/// Incidents listed at most.
const LIST_LIMIT: i64 = 200;
/// Kubernetes Events of the affected resource shown at most.
const EVENTS_SHOWN: usize = 50;

pub(crate) fn incident_error(e: IncidentError) -> ApiError {
    match e {
        IncidentError::NotFound(_) => ApiError::not_found("incident"),
        IncidentError::Database(e) => ApiError::from(e),
        e @ (IncidentError::Transition(_)
        | IncidentError::AlreadyAcknowledged(_)
        | IncidentError::MergeTargetClosed(_)) => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

fn parse_severity(text: &str) -> Result<Severity, ApiError> {
    text.parse()
        .map_err(|e: javari_crds::common::UnknownValue| ApiError::bad_request(e.to_string()))
}

fn actor(user: &User) -> &str {
    &user.email
}

/// An incident as the API and the pages show it.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentView {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub severity: String,
    pub status: String,
    pub source: Option<SourceView>,
    pub runbook: Option<String>,
    pub occurrences: i32,
    pub declared_by: Option<String>,
    pub commander: Option<String>,
    pub communications: Option<String>,
    pub merged_into: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The operations guide's response target: acknowledge by then.
    pub respond_by: Option<DateTime<Utc>>,
    /// Seconds left to acknowledge (negative: overdue); `None` once acknowledged or closed.
    pub respond_in_seconds: Option<i64>,
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
pub struct SourceView {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl IncidentView {
    pub fn of(i: Incident, now: DateTime<Utc>) -> Self {
        let open = i.status.is_open();
        let respond_by = Some(core_incidents::respond_by(i.severity, i.opened_at));
        let respond_in_seconds = respond_by
            .filter(|_| open && i.acknowledged_at.is_none())
            .map(|t| (t - now).num_seconds());
        let source = match (i.source_kind, i.source_namespace, i.source_name) {
            (Some(kind), Some(namespace), Some(name)) => Some(SourceView {
                kind,
                namespace,
                name,
            }),
            _ => None,
        };
        Self {
            id: i.id,
            title: i.title,
            description: i.description,
            severity: i.severity.to_string(),
            status: i.status.to_string(),
            source,
            runbook: i.runbook,
            occurrences: i.occurrences,
            declared_by: i.declared_by,
            commander: i.commander,
            communications: i.communications,
            merged_into: i.merged_into,
            opened_at: i.opened_at,
            acknowledged_at: i.acknowledged_at,
            acknowledged_by: i.acknowledged_by,
            resolved_at: i.resolved_at,
            resolved_by: i.resolved_by,
            closed_at: i.closed_at,
            respond_by,
            respond_in_seconds,
        }
    }

    /// `12 min left`, `3 min overdue`, or empty.
    pub fn countdown(&self) -> String {
        match self.respond_in_seconds {
            None => String::new(),
            Some(s) if s >= 0 => format!(
                "{} left",
                core_incidents::human(chrono::TimeDelta::seconds(s))
            ),
            Some(s) => format!(
                "{} overdue",
                core_incidents::human(chrono::TimeDelta::seconds(-s))
            ),
        }
    }
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: i64,
    pub kind: String,
    pub message: String,
    pub actor: Option<String>,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl From<TimelineEvent> for EventView {
    fn from(e: TimelineEvent) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            message: e.message,
            actor: e.actor,
            data: e.data,
            at: e.created_at,
        }
    }
}

/// A runbook an incident's triggers suggest, with the parameters taken from the incident.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub id: String,
    pub title: String,
    pub namespace: String,
    pub parameters: BTreeMap<String, String>,
    /// Parameters the incident does not give; the person fills them.
    pub missing: Vec<String>,
}

/// A Kubernetes Event of the affected resource.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceEvent {
    pub kind: String,
    pub name: String,
    pub reason: String,
    pub message: String,
    pub type_: String,
    pub at: Option<DateTime<Utc>>,
}

/// Everything the detail page and `GET /api/javari/incidents/{id}` show.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub incident: IncidentView,
    pub timeline: Vec<EventView>,
    pub last_change: Option<EventView>,
    pub suggested_runbooks: Vec<Suggestion>,
    pub runs: Vec<RunRow>,
    pub resource_events: Vec<ResourceEvent>,
}

/// The runbooks the incident's source suggests (its Monitor's own runbook first), with the
/// parameters it can fill: the source's name, and a Monitor's Project.
pub(crate) async fn suggestions(state: &AppState, i: &Incident) -> Vec<Suggestion> {
    let playbooks = &state.playbooks;
    let (kind, ns, name) = (
        i.source_kind.as_deref().unwrap_or(""),
        i.source_namespace.clone().unwrap_or_default(),
        i.source_name.clone().unwrap_or_default(),
    );
    let source = match kind {
        "monitor" => Some(Source::Monitor(&name)),
        "project" => Some(Source::Project(&name)),
        "provider" => Some(Source::Provider(&name)),
        "credential" => Some(Source::Credential(&name)),
        "backup" => Some(Source::Backup(&name)),
        _ => None,
    };
    let mut ids: Vec<String> = i.runbook.iter().cloned().collect();
    if let Some(source) = source {
        for r in playbooks.catalogue.suggest(source) {
            if !ids.contains(&r.meta.id) {
                ids.push(r.meta.id.clone());
            }
        }
    }
    let mut known = BTreeMap::new();
    if !name.is_empty() {
        known.insert(kind.to_owned(), name.clone());
    }
    if kind == "monitor"
        && let Some(project) = playbooks.executor.monitor_project(&ns, &name).await
    {
        known.insert("project".to_owned(), project);
    }
    ids.into_iter()
        .filter_map(|id| playbooks.catalogue.get(&id))
        .map(|r| {
            let mut parameters = BTreeMap::new();
            let mut missing = Vec::new();
            for (p, spec) in &r.meta.parameters {
                match known.get(p).or(spec.default.as_ref()) {
                    Some(v) => {
                        parameters.insert(p.clone(), v.clone());
                    }
                    None => missing.push(p.clone()),
                }
            }
            Suggestion {
                id: r.meta.id.clone(),
                title: r.meta.title.clone(),
                namespace: ns.clone(),
                parameters,
                missing,
            }
        })
        .collect()
}

/// Events of the incident's resource (and a Monitor's Project) from the Kubernetes API.
async fn resource_events(
    state: &AppState,
    i: &Incident,
    project: Option<&str>,
) -> Vec<ResourceEvent> {
    use k8s_openapi::api::core::v1::Event;
    use kube::api::{Api, ListParams};
    let (Some(client), Some(ns), Some(name)) = (&state.kube, &i.source_namespace, &i.source_name)
    else {
        return Vec::new();
    };
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut names = vec![name.as_str()];
    names.extend(project);
    let mut out = Vec::new();
    for n in names {
        let params = ListParams::default()
            .fields(&format!("involvedObject.name={n}"))
            .limit(EVENTS_SHOWN as u32);
        let Ok(list) = api.list(&params).await else {
            continue;
        };
        for e in list.items {
            let at = e
                .last_timestamp
                .as_ref()
                .or(e.first_timestamp.as_ref())
                .map(javari_core::time::from_k8s)
                .or_else(|| {
                    e.event_time
                        .as_ref()
                        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
                });
            out.push(ResourceEvent {
                kind: e.involved_object.kind.unwrap_or_default(),
                name: e.involved_object.name.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                type_: e.type_.unwrap_or_default(),
                at,
            });
        }
    }
    out.sort_by_key(|e| e.at);
    out.truncate(EVENTS_SHOWN);
    out
}

pub(crate) async fn detail(state: &AppState, id: Uuid) -> Result<Detail, ApiError> {
    let pool = &state.db;
    let incident = core_incidents::get(pool, id)
        .await
        .map_err(incident_error)?;
    let timeline = core_incidents::timeline(pool, id)
        .await
        .map_err(incident_error)?;
    let last_change = core_incidents::last_change_before(pool, &incident)
        .await
        .map_err(incident_error)?;
    let suggested = suggestions(state, &incident).await;
    let project = suggested
        .iter()
        .find_map(|s| s.parameters.get("project").cloned());
    let resource_events = resource_events(state, &incident, project.as_deref()).await;
    let runs = runs_of(pool, id).await.map_err(run_error)?;
    Ok(Detail {
        incident: IncidentView::of(incident, Utc::now()),
        timeline: timeline.into_iter().map(EventView::from).collect(),
        last_change: last_change.map(EventView::from),
        suggested_runbooks: suggested,
        runs,
        resource_events,
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// `open` (default) or `all`.
    #[serde(default)]
    pub status: Option<String>,
}

async fn list(state: &AppState, q: &ListQuery) -> Result<Vec<IncidentView>, ApiError> {
    let open_only = match q.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?}: `open` or `all`"
            )));
        }
    };
    let now = Utc::now();
    Ok(core_incidents::list(&state.db, open_only, LIST_LIMIT)
        .await
        .map_err(incident_error)?
        .into_iter()
        .map(|i| IncidentView::of(i, now))
        .collect())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    incidents: Vec<IncidentView>,
}

/// `GET /api/javari/incidents?status=open|all`.
#[utoipa::path(get, path = "/api/javari/incidents", tag = "incidents", params(("status" = Option<String>, Query, description = "`open` (default) or `all`")), responses((status = 200, description = "Incidents, newest first", body = IncidentList)))]
pub async fn api_list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(IncidentList {
        incidents: list(&state, &q).await?,
    }))
}

/// `GET /api/javari/incidents/{id}`.
#[utoipa::path(get, path = "/api/javari/incidents/{id}", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The incident with its timeline, last change and suggested runbooks", body = Detail)))]
pub async fn api_get(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(detail(&state, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Declare {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub severity: String,
    #[serde(default)]
    pub source: Option<SourceInput>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

const SOURCE_KINDS: &[&str] = &["monitor", "project", "provider", "credential", "backup"];

async fn declare(state: &AppState, user: &User, d: &Declare) -> Result<Uuid, ApiError> {
    let severity = parse_severity(&d.severity)?;
    if let Some(s) = &d.source
        && (!SOURCE_KINDS.contains(&s.kind.as_str())
            || s.namespace.is_empty()
            || s.name.is_empty()
            || s.namespace.len() > 253
            || s.name.len() > 253)
    {
        return Err(ApiError::bad_request(format!(
            "source: kind one of {}, a namespace and a name",
            SOURCE_KINDS.join(", ")
        )));
    }
    if d.description.as_ref().is_some_and(|t| t.len() > 4000) {
        return Err(ApiError::bad_request(
            "description: at most 4,000 characters",
        ));
    }
    let id = core_incidents::declare(
        &state.db,
        Declaration {
            title: &d.title,
            description: d.description.as_deref(),
            severity,
            actor: actor(user),
            source: d
                .source
                .as_ref()
                .map(|s| (s.kind.as_str(), s.namespace.as_str(), s.name.as_str())),
        },
    )
    .await
    .map_err(incident_error)?;
    state.playbooks.notify(&state.db, id, Notice::Declared);
    Ok(id)
}

/// `POST /api/javari/incidents`: declares an incident by hand.
#[utoipa::path(post, path = "/api/javari/incidents", tag = "incidents", request_body = Declare, responses((status = 201, description = "The declared incident", body = Detail)))]
pub async fn api_declare(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    ApiJson(d): ApiJson<Declare>,
) -> Result<impl IntoResponse, ApiError> {
    let id = declare(&state, &current.user, &d).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, id).await?)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Why (the timeline's message for a status change).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub commander: Option<String>,
    #[serde(default)]
    pub communications: Option<String>,
}

async fn update(state: &AppState, user: &User, id: Uuid, u: &Update) -> Result<(), ApiError> {
    let pool = &state.db;
    let who = actor(user);
    if let Some(severity) = &u.severity {
        let severity = parse_severity(severity)?;
        if core_incidents::set_severity(pool, id, severity, who)
            .await
            .map_err(incident_error)?
        {
            state.playbooks.notify(pool, id, Notice::SeverityChanged);
        }
    }
    if let Some(person) = &u.commander {
        core_incidents::assign(pool, id, IncidentRole::Commander, person, who)
            .await
            .map_err(incident_error)?;
    }
    if let Some(person) = &u.communications {
        core_incidents::assign(pool, id, IncidentRole::Communications, person, who)
            .await
            .map_err(incident_error)?;
    }
    if let Some(status) = &u.status {
        let to: IncidentStatus = status.parse().map_err(ApiError::bad_request)?;
        let message = u
            .message
            .clone()
            .unwrap_or_else(|| format!("moved to {to}"));
        core_incidents::transition(pool, id, to, Mover::Person, who, &message)
            .await
            .map_err(incident_error)?;
        if to == IncidentStatus::Resolved {
            state.playbooks.notify(pool, id, Notice::Resolved);
        }
    }
    Ok(())
}

/// `PATCH /api/javari/incidents/{id}`: severity, roles, status (with a message).
#[utoipa::path(patch, path = "/api/javari/incidents/{id}", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = Update, responses((status = 200, description = "The updated incident", body = Detail)))]
pub async fn api_update(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(u): ApiJson<Update>,
) -> Result<impl IntoResponse, ApiError> {
    update(&state, &current.user, id, &u).await?;
    Ok(Json(detail(&state, id).await?))
}

async fn acknowledge(state: &AppState, user: &User, id: Uuid) -> Result<(), ApiError> {
    core_incidents::acknowledge(&state.db, id, actor(user))
        .await
        .map_err(incident_error)?;
    state.playbooks.notify(&state.db, id, Notice::Acknowledged);
    Ok(())
}

/// `POST /api/javari/incidents/{id}/acknowledge`.
#[utoipa::path(post, path = "/api/javari/incidents/{id}/acknowledge", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The acknowledged incident", body = Detail)))]
pub async fn api_acknowledge(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    acknowledge(&state, &current.user, id).await?;
    Ok(Json(detail(&state, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub text: String,
    /// A status update for the status page rather than an internal note.
    #[serde(default)]
    pub public: bool,
}

/// `POST /api/javari/incidents/{id}/notes`.
#[utoipa::path(post, path = "/api/javari/incidents/{id}/notes", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = NoteInput, responses((status = 201, description = "The incident with the note on its timeline", body = Detail)))]
pub async fn api_note(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(n): ApiJson<NoteInput>,
) -> Result<impl IntoResponse, ApiError> {
    core_incidents::note(&state.db, id, &n.text, n.public, actor(&current.user))
        .await
        .map_err(incident_error)?;
    Ok((StatusCode::CREATED, Json(detail(&state, id).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// How it was fixed.
    pub message: String,
}

async fn resolve(state: &AppState, user: &User, id: Uuid, message: &str) -> Result<(), ApiError> {
    core_incidents::transition(
        &state.db,
        id,
        IncidentStatus::Resolved,
        Mover::Person,
        actor(user),
        message,
    )
    .await
    .map_err(incident_error)?;
    state.playbooks.notify(&state.db, id, Notice::Resolved);
    Ok(())
}

/// `POST /api/javari/incidents/{id}/resolve`.
#[utoipa::path(post, path = "/api/javari/incidents/{id}/resolve", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = Resolve, responses((status = 200, description = "The resolved incident", body = Detail)))]
pub async fn api_resolve(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(r): ApiJson<Resolve>,
) -> Result<impl IntoResponse, ApiError> {
    resolve(&state, &current.user, id, &r.message).await?;
    Ok(Json(detail(&state, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    pub into: Uuid,
}

/// `POST /api/javari/incidents/{id}/merge`: folds this duplicate into `into`.
#[utoipa::path(post, path = "/api/javari/incidents/{id}/merge", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = MergeInput, responses((status = 200, description = "The incident merged into another", body = Detail)))]
pub async fn api_merge(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(m): ApiJson<MergeInput>,
) -> Result<impl IntoResponse, ApiError> {
    core_incidents::merge(&state.db, id, m.into, actor(&current.user))
        .await
        .map_err(incident_error)?;
    Ok(Json(detail(&state, m.into).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostmortemBody {
    markdown: String,
    action_items: Vec<ActionItemView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionItemView {
    title: String,
    owner: String,
    due: Option<chrono::NaiveDate>,
    done: bool,
}

async fn postmortem_body(state: &AppState, id: Uuid) -> Result<PostmortemBody, ApiError> {
    let markdown = core_incidents::postmortem(&state.db, id)
        .await
        .map_err(incident_error)?;
    let action_items = core_incidents::action_items(&state.db, id)
        .await
        .map_err(incident_error)?
        .into_iter()
        .map(|i| ActionItemView {
            title: i.title,
            owner: i.owner,
            due: i.due,
            done: i.done,
        })
        .collect();
    Ok(PostmortemBody {
        markdown,
        action_items,
    })
}

/// `GET /api/javari/incidents/{id}/postmortem`: the saved postmortem, or a draft from the data.
#[utoipa::path(get, path = "/api/javari/incidents/{id}/postmortem", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The postmortem (generated from the timeline until saved)", body = PostmortemBody)))]
pub async fn api_postmortem(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(postmortem_body(&state, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemInput {
    pub markdown: String,
}

/// `PUT /api/javari/incidents/{id}/postmortem`.
#[utoipa::path(put, path = "/api/javari/incidents/{id}/postmortem", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = PostmortemInput, responses((status = 200, description = "The saved postmortem", body = PostmortemBody)))]
pub async fn api_save_postmortem(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(p): ApiJson<PostmortemInput>,
) -> Result<impl IntoResponse, ApiError> {
    core_incidents::save_postmortem(&state.db, id, &p.markdown, actor(&current.user))
        .await
        .map_err(incident_error)?;
    Ok(Json(postmortem_body(&state, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemInput {
    pub title: String,
    pub owner: String,
    #[serde(default)]
    pub due: Option<chrono::NaiveDate>,
}

/// `POST /api/javari/incidents/{id}/action-items`.
#[utoipa::path(post, path = "/api/javari/incidents/{id}/action-items", tag = "incidents", params(("id" = Uuid, Path, description = "The id")), request_body = ActionItemInput, responses((status = 201, description = "The postmortem with the new action item", body = PostmortemBody)))]
pub async fn api_add_action_item(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    ApiJson(a): ApiJson<ActionItemInput>,
) -> Result<impl IntoResponse, ApiError> {
    core_incidents::add_action_item(&state.db, id, &a.title, &a.owner, a.due)
        .await
        .map_err(incident_error)?;
    Ok((
        StatusCode::CREATED,
        Json(postmortem_body(&state, id).await?),
    ))
}

/// `GET /incidents/{id}/postmortem.md`: the postmortem as a Markdown file.
pub async fn export_postmortem(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let markdown = core_incidents::postmortem(&state.db, id)
        .await
        .map_err(incident_error)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"postmortem-{id}.md\""),
            ),
        ],
        markdown,
    )
        .into_response())
}

// ---- pages -------------------------------------------------------------------------------

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::response::Redirect;

use crate::auth::Role;

/// One row of the page's timeline: the incident's own events and its resources' Events.
pub struct TimelineRow {
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub message: String,
    /// `cluster` for a Kubernetes Event.
    pub origin: &'static str,
}

fn rows(detail: &Detail) -> Vec<TimelineRow> {
    let mut rows: Vec<(DateTime<Utc>, TimelineRow)> = detail
        .timeline
        .iter()
        .map(|e| {
            (
                e.at,
                TimelineRow {
                    at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    kind: e.kind.clone(),
                    actor: e.actor.clone().unwrap_or_default(),
                    message: e.message.clone(),
                    origin: "incident",
                },
            )
        })
        .collect();
    for e in &detail.resource_events {
        let at = e.at.unwrap_or(detail.incident.opened_at);
        rows.push((
            at,
            TimelineRow {
                at: at.format("%Y-%m-%d %H:%M:%S").to_string(),
                kind: format!("{} {}", e.kind, e.reason),
                actor: e.name.clone(),
                message: e.message.clone(),
                origin: "cluster",
            },
        ));
    }
    rows.sort_by_key(|(at, _)| *at);
    rows.into_iter().map(|(_, r)| r).collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents.html")]
struct ListPage {
    user: User,
    csrf: String,
    can_act: bool,
    all: bool,
    incidents: Vec<IncidentView>,
}

/// `GET /incidents`: open incidents (or `?status=all`) with their response countdowns.
pub async fn page_list(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let incidents = list(&state, &q).await?;
    Ok(ListPage {
        can_act: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        all: q.status.as_deref() == Some("all"),
        incidents,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct DeclareForm {
    title: String,
    severity: String,
    description: Option<String>,
}

/// `POST /incidents`: declares by hand.
pub async fn page_declare(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(f): Form<DeclareForm>,
) -> Result<Response, PageError> {
    let d = Declare {
        title: f.title,
        severity: f.severity,
        description: f.description.filter(|d| !d.trim().is_empty()),
        source: None,
    };
    let id = declare(&state, &current.user, &d).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "incident.html")]
struct DetailPage {
    user: User,
    csrf: String,
    can_act: bool,
    d: Detail,
    rows: Vec<TimelineRow>,
    countdown: String,
    notice: String,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /incidents/{id}`.
pub async fn page_detail(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let d = detail(&state, id).await?;
    Ok(DetailPage {
        can_act: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        rows: rows(&d),
        countdown: d.incident.countdown(),
        d,
        notice: q.notice.unwrap_or_default(),
    }
    .into_response())
}

/// The detail page's forms: `action` says which.
#[derive(Deserialize)]
pub struct ActForm {
    action: String,
    text: Option<String>,
    public: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    person: Option<String>,
    role: Option<String>,
    into: Option<Uuid>,
}

/// `POST /incidents/{id}/act`.
pub async fn page_act(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let user = &current.user;
    let text = f.text.clone().unwrap_or_default();
    match f.action.as_str() {
        "acknowledge" => acknowledge(&state, user, id).await?,
        "note" => {
            core_incidents::note(&state.db, id, &text, f.public.is_some(), actor(user))
                .await
                .map_err(incident_error)?;
        }
        "resolve" => resolve(&state, user, id, &text).await?,
        "status" => {
            let u = Update {
                status: f.status.clone(),
                message: Some(text).filter(|t| !t.trim().is_empty()),
                ..Update::default()
            };
            update(&state, user, id, &u).await?;
        }
        "severity" => {
            let u = Update {
                severity: f.severity.clone(),
                ..Update::default()
            };
            update(&state, user, id, &u).await?;
        }
        "role" => {
            let person = f.person.clone();
            let u = match f.role.as_deref() {
                Some("communications") => Update {
                    communications: person,
                    ..Update::default()
                },
                _ => Update {
                    commander: person,
                    ..Update::default()
                },
            };
            update(&state, user, id, &u).await?;
        }
        "merge" => {
            let into = f
                .into
                .ok_or_else(|| ApiError::bad_request("name the incident to merge into"))?;
            core_incidents::merge(&state.db, id, into, actor(user))
                .await
                .map_err(incident_error)?;
            return Ok(Redirect::to(&format!("/incidents/{into}")).into_response());
        }
        other => {
            return Err(ApiError::bad_request(format!("unknown action {other:?}")).into());
        }
    }
    // Only the known actions above reach here: the word is safe in the URL.
    Ok(Redirect::to(&format!("/incidents/{id}?notice={}", f.action)).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "incident_postmortem.html")]
struct PostmortemPage {
    user: User,
    csrf: String,
    can_act: bool,
    incident: IncidentView,
    markdown: String,
    items: Vec<core_incidents::ActionItem>,
    notice: String,
}

/// `GET /incidents/{id}/postmortem`: the editor (Markdown) with its action items.
pub async fn page_postmortem(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let incident = core_incidents::get(&state.db, id)
        .await
        .map_err(incident_error)?;
    let markdown = core_incidents::postmortem(&state.db, id)
        .await
        .map_err(incident_error)?;
    let items = core_incidents::action_items(&state.db, id)
        .await
        .map_err(incident_error)?;
    Ok(PostmortemPage {
        can_act: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        incident: IncidentView::of(incident, Utc::now()),
        markdown,
        items,
        notice: q.notice.unwrap_or_default(),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct PostmortemForm {
    markdown: Option<String>,
    title: Option<String>,
    owner: Option<String>,
    due: Option<String>,
}

/// `POST /incidents/{id}/postmortem`: saves the Markdown, or adds an action item.
pub async fn page_save_postmortem(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(f): Form<PostmortemForm>,
) -> Result<Response, PageError> {
    let notice = if let Some(markdown) = f.markdown {
        core_incidents::save_postmortem(&state.db, id, &markdown, actor(&current.user))
            .await
            .map_err(incident_error)?;
        "saved"
    } else {
        let due = match f.due.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| ApiError::bad_request("due: a date as YYYY-MM-DD"))?,
            ),
            None => None,
        };
        core_incidents::add_action_item(
            &state.db,
            id,
            f.title.as_deref().unwrap_or_default(),
            f.owner.as_deref().unwrap_or_default(),
            due,
        )
        .await
        .map_err(incident_error)?;
        "item"
    };
    Ok(Redirect::to(&format!("/incidents/{id}/postmortem?notice={notice}")).into_response())
}
