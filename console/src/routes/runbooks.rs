//! Runbooks: the JSON API under `/api/javari/runbooks` and `/api/javari/runbook-runs`, and the
//! `/runbooks` pages. Viewers read and preview; operators run steps and approve someone
//! else's run. Core's [`Runner`](javari_core::runbooks::Runner) does the work: confirmation of
//! changing steps, approvals (no self-approval, timeout), resuming at a failed step.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use javari_core::runbooks::{
    Action, Planned, RunError, RunRow, Runbook, StepRunRow, Values, preview,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::incidents::incident_error;
use super::json::ApiJson;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;

pub(crate) fn run_error(e: RunError) -> ApiError {
    let message = e.to_string();
    match e {
        RunError::UnknownRunbook(_) => ApiError::not_found("runbook"),
        RunError::NotFound(_) => ApiError::not_found("runbook run"),
        RunError::MissingParameter(_) | RunError::UnknownParameter(_) | RunError::Step(_) => {
            ApiError::bad_request(message)
        }
        RunError::SelfApproval => ApiError::new(
            StatusCode::FORBIDDEN,
            "the run's starter cannot approve it: another operator must",
        ),
        RunError::Database(e) => ApiError::from(e),
        RunError::NeedsConfirmation { .. }
        | RunError::AwaitingApproval(_)
        | RunError::Finished(_)
        | RunError::Busy
        | RunError::AlreadyApproved(_)
        | RunError::NotAwaitingApproval => ApiError::new(StatusCode::CONFLICT, message),
    }
}

pub(crate) fn kind_of(action: &Action) -> &'static str {
    match action {
        Action::Manual { .. } => "manual",
        Action::Http { .. } => "http",
        Action::Sql { .. } => "sql",
        Action::Kube(_) => "kube",
        Action::Verify { .. } => "verify",
        Action::Approval { .. } => "approval",
        Action::Notify { .. } => "notify",
    }
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunbookSummary {
    pub id: String,
    pub title: String,
    pub severities: Vec<String>,
    pub steps: usize,
    pub parameters: BTreeMap<String, String>,
}

impl RunbookSummary {
    pub fn of(r: &Runbook) -> Self {
        Self {
            id: r.meta.id.clone(),
            title: r.meta.title.clone(),
            severities: r.meta.severities.iter().map(|s| format!("{s:?}")).collect(),
            steps: r.steps.len(),
            parameters: r
                .meta
                .parameters
                .iter()
                .map(|(k, p)| (k.clone(), p.description.clone()))
                .collect(),
        }
    }
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    pub number: usize,
    pub title: String,
    pub kind: &'static str,
    pub instructions: String,
    pub changes_something: bool,
    pub timeout_seconds: u64,
    pub retries: u32,
    pub on_failure: String,
    pub checklist: Vec<String>,
}

pub fn steps_of(r: &Runbook) -> Vec<StepView> {
    r.steps
        .iter()
        .map(|s| StepView {
            number: s.number,
            title: s.title.clone(),
            kind: kind_of(&s.action),
            instructions: s.instructions.clone(),
            changes_something: s.changes_something(),
            timeout_seconds: s.timeout.as_secs(),
            retries: s.retries,
            on_failure: format!("{:?}", s.on_failure).to_lowercase(),
            checklist: match &s.action {
                Action::Manual { checklist } => checklist.clone(),
                _ => Vec::new(),
            },
        })
        .collect()
}

fn runbook<'a>(state: &'a AppState, id: &str) -> Result<&'a Runbook, ApiError> {
    state
        .playbooks
        .catalogue
        .get(id)
        .ok_or_else(|| ApiError::not_found("runbook"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunbookList {
    runbooks: Vec<RunbookSummary>,
}

/// `GET /api/javari/runbooks`.
#[utoipa::path(get, path = "/api/javari/runbooks", tag = "runbooks", responses((status = 200, description = "Every runbook", body = RunbookList)))]
pub async fn api_list(State(state): State<AppState>) -> impl IntoResponse {
    Json(RunbookList {
        runbooks: state
            .playbooks
            .catalogue
            .iter()
            .map(RunbookSummary::of)
            .collect(),
    })
}

/// `GET /api/javari/runbooks/{id}`.
#[utoipa::path(get, path = "/api/javari/runbooks/{id}", tag = "runbooks", params(("id" = String, Path, description = "The runbook's id")), responses((status = 200, description = "The runbook with its steps", body = RunbookDetail)))]
pub async fn api_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = runbook(&state, &id)?;
    Ok(Json(RunbookDetail {
        runbook: RunbookSummary::of(r),
        summary: r.summary.clone(),
        steps: steps_of(r),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunbookDetail {
    runbook: RunbookSummary,
    summary: String,
    steps: Vec<StepView>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// Defaults to the incident's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub parameters: Values,
    #[serde(default)]
    pub incident: Option<Uuid>,
}

/// The run's namespace and the values its placeholders take (for the preview).
async fn resolve_input(
    state: &AppState,
    r: &Runbook,
    input: &RunInput,
) -> Result<(String, Values), ApiError> {
    let incident = match input.incident {
        Some(id) => Some(
            javari_core::incidents::get(&state.db, id)
                .await
                .map_err(incident_error)?,
        ),
        None => None,
    };
    let namespace = input
        .namespace
        .clone()
        .or_else(|| incident.as_ref().and_then(|i| i.source_namespace.clone()))
        .ok_or_else(|| ApiError::bad_request("namespace: name the namespace the run acts in"))?;
    if !javari_core::schema::target::is_dns_label(&namespace) {
        return Err(ApiError::bad_request(format!(
            "namespace {namespace:?} is not a Kubernetes namespace name"
        )));
    }
    for (k, v) in &input.parameters {
        if !r.meta.parameters.contains_key(k) {
            return Err(ApiError::bad_request(format!(
                "{k:?} is not a parameter of this runbook"
            )));
        }
        if v.len() > 253 || v.contains(['\0', '\n']) {
            return Err(ApiError::bad_request(format!(
                "parameter {k}: one line of at most 253 characters"
            )));
        }
    }
    let mut values = input.parameters.clone();
    for (k, p) in &r.meta.parameters {
        if let (false, Some(d)) = (values.contains_key(k), &p.default) {
            values.insert(k.clone(), d.clone());
        }
    }
    values.insert("namespace".into(), namespace.clone());
    if let Some(i) = &incident {
        values.insert("incident.id".into(), i.id.to_string());
        values.insert("incident.title".into(), i.title.clone());
        values.insert("incident.severity".into(), i.severity.to_string());
    }
    Ok((namespace, values))
}

fn plan(r: &Runbook, values: &Values) -> Result<Vec<Planned>, ApiError> {
    preview(r, values).map_err(run_error)
}

/// `POST /api/javari/runbooks/{id}/preview`: the dry run, nothing runs.
#[utoipa::path(post, path = "/api/javari/runbooks/{id}/preview", tag = "runbooks", params(("id" = String, Path, description = "The runbook's id")), request_body = RunInput, responses((status = 200, description = "A dry run: what each step would do", body = PreviewBody)))]
pub async fn api_preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RunInput>,
) -> Result<impl IntoResponse, ApiError> {
    let r = runbook(&state, &id)?;
    let (namespace, values) = resolve_input(&state, r, &input).await?;
    Ok(Json(PreviewBody {
        plan: plan(r, &values)?,
        namespace,
    }))
}

/// The dry run of a runbook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewBody {
    namespace: String,
    plan: Vec<Planned>,
}

/// A run with its recorded attempts and the plan of its steps.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunBody {
    pub run: RunRow,
    pub attempts: Vec<StepRunRow>,
    pub steps: Vec<StepView>,
    /// The current step, if the run is not finished.
    pub current: Option<StepView>,
}

pub(crate) async fn run_body(state: &AppState, id: Uuid) -> Result<RunBody, ApiError> {
    let (run, attempts) = state
        .playbooks
        .runner(&state.db)
        .get(id)
        .await
        .map_err(run_error)?;
    let steps = state
        .playbooks
        .catalogue
        .get(&run.runbook_id)
        .map(steps_of)
        .unwrap_or_default();
    let current = match run.status.as_str() {
        "running" | "failed" | "awaiting_approval" => usize::try_from(run.current_step - 1)
            .ok()
            .and_then(|i| steps.get(i).cloned()),
        _ => None,
    };
    Ok(RunBody {
        run,
        attempts,
        steps,
        current,
    })
}

pub(crate) async fn start(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
    input: &RunInput,
) -> Result<Uuid, ApiError> {
    let r = runbook(state, id)?;
    let (namespace, values) = resolve_input(state, r, input).await?;
    // The preview must fill every step: a run that would stop on a missing value does not
    // start.
    plan(r, &values)?;
    state
        .playbooks
        .runner(&state.db)
        .start(
            id,
            input.incident,
            &namespace,
            input.parameters.clone(),
            &current.user.email,
        )
        .await
        .map_err(run_error)
}

/// `POST /api/javari/runbooks/{id}/runs`: starts a run (for an incident, or maintenance).
#[utoipa::path(post, path = "/api/javari/runbooks/{id}/runs", tag = "runbooks", params(("id" = String, Path, description = "The runbook's id")), request_body = RunInput, responses((status = 201, description = "The started run", body = RunBody)))]
pub async fn api_start(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RunInput>,
) -> Result<impl IntoResponse, ApiError> {
    let run = start(&state, &current, &id, &input).await?;
    Ok((StatusCode::CREATED, Json(run_body(&state, run).await?)))
}

/// `GET /api/javari/runbook-runs/{run}`.
#[utoipa::path(get, path = "/api/javari/runbook-runs/{id}", tag = "runbooks", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The run with its steps and attempts", body = RunBody)))]
pub async fn api_run(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(run_body(&state, id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// Must be true for a step that changes something.
    #[serde(default)]
    pub confirm: bool,
}

/// `POST /api/javari/runbook-runs/{run}/step`: runs the current step (a failed run retries
/// its failed step and resumes from there).
#[utoipa::path(post, path = "/api/javari/runbook-runs/{id}/step", tag = "runbooks", params(("id" = Uuid, Path, description = "The id")), request_body = StepInput, responses((status = 200, description = "The run after its next step (409 when a changing step is not confirmed)", body = RunBody)))]
pub async fn api_step(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<StepInput>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .playbooks
        .runner(&state.db)
        .advance(id, &current.user.email, input.confirm)
        .await
        .map_err(run_error)?;
    Ok(Json(run_body(&state, id).await?))
}

/// `POST /api/javari/runbook-runs/{run}/approve`: another operator approves the waiting step.
#[utoipa::path(post, path = "/api/javari/runbook-runs/{id}/approve", tag = "runbooks", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The run after a second operator approved it", body = RunBody)))]
pub async fn api_approve(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .playbooks
        .runner(&state.db)
        .approve(id, &current.user.email)
        .await
        .map_err(run_error)?;
    Ok(Json(run_body(&state, id).await?))
}

/// `POST /api/javari/runbook-runs/{run}/cancel`.
#[utoipa::path(post, path = "/api/javari/runbook-runs/{id}/cancel", tag = "runbooks", params(("id" = Uuid, Path, description = "The id")), responses((status = 200, description = "The cancelled run", body = RunBody)))]
pub async fn api_cancel(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .playbooks
        .runner(&state.db)
        .cancel(id, &current.user.email)
        .await
        .map_err(run_error)?;
    Ok(Json(run_body(&state, id).await?))
}

// ---- pages -------------------------------------------------------------------------------

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::response::{Redirect, Response};

use crate::auth::{Role, User};
use crate::error::PageError;

#[derive(Template, WebTemplate)]
#[template(path = "runbooks.html")]
struct ListPage {
    user: User,
    csrf: String,
    runbooks: Vec<RunbookSummary>,
}

/// `GET /runbooks`.
pub async fn page_list(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Response {
    ListPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        runbooks: state
            .playbooks
            .catalogue
            .iter()
            .map(RunbookSummary::of)
            .collect(),
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "runbook.html")]
struct DetailPage {
    user: User,
    csrf: String,
    can_run: bool,
    runbook: RunbookSummary,
    summary: String,
    steps: Vec<StepView>,
    incident: String,
    namespace: String,
    /// Parameter, its description and the prefilled value.
    fields: Vec<(String, String, String)>,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    incident: Option<Uuid>,
}

/// `GET /runbooks/{id}?incident=…`: the steps, and the form that starts a run (prefilled
/// from the incident when there is one).
pub async fn page_detail(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DetailQuery>,
) -> Result<Response, PageError> {
    let r = runbook(&state, &id)?;
    let mut prefilled = BTreeMap::new();
    let mut namespace = String::new();
    if let Some(incident) = q.incident {
        let i = javari_core::incidents::get(&state.db, incident)
            .await
            .map_err(incident_error)?;
        if let Some(s) = super::incidents::suggestions(&state, &i)
            .await
            .into_iter()
            .find(|s| s.id == id)
        {
            prefilled = s.parameters;
        }
        namespace = i.source_namespace.unwrap_or_default();
    }
    let fields = r
        .meta
        .parameters
        .iter()
        .map(|(k, p)| {
            let value = prefilled
                .get(k)
                .cloned()
                .or_else(|| p.default.clone())
                .unwrap_or_default();
            (k.clone(), p.description.clone(), value)
        })
        .collect();
    Ok(DetailPage {
        can_run: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        runbook: RunbookSummary::of(r),
        summary: r.summary.clone(),
        steps: steps_of(r),
        incident: q.incident.map(|i| i.to_string()).unwrap_or_default(),
        namespace,
        fields,
    }
    .into_response())
}

/// `POST /runbooks/{id}/runs`: the form's fields are `namespace`, `incident` and `param.NAME`.
pub async fn page_start(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut input = RunInput::default();
    for (k, v) in fields {
        match k.as_str() {
            "namespace" if !v.is_empty() => input.namespace = Some(v),
            "incident" if !v.is_empty() => {
                input.incident = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad_request("incident: not an id"))?,
                );
            }
            _ => {
                if let Some(name) = k.strip_prefix("param.")
                    && !v.is_empty()
                {
                    input.parameters.insert(name.to_owned(), v);
                }
            }
        }
    }
    let run = start(&state, &current, &id, &input).await?;
    Ok(Redirect::to(&format!("/runbook-runs/{run}")).into_response())
}

/// One step of the run page: the runbook's step with what it will do and its attempts.
pub struct RunStepRow {
    pub step: StepView,
    pub does: String,
    pub state: &'static str,
    pub attempts: Vec<StepRunRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "runbook_run.html")]
struct RunPage {
    user: User,
    csrf: String,
    can_run: bool,
    run: RunRow,
    title: String,
    rows: Vec<RunStepRow>,
    current: Option<StepView>,
    notice: String,
}

#[derive(Deserialize, Default)]
pub struct RunQuery {
    notice: Option<String>,
}

/// `GET /runbook-runs/{id}`: the run step by step.
pub async fn page_run(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    axum::extract::Query(q): axum::extract::Query<RunQuery>,
) -> Result<Response, PageError> {
    let body = run_body(&state, id).await?;
    let r = runbook(&state, &body.run.runbook_id)?;
    let json: serde_json::Value =
        sqlx::query_scalar("SELECT parameters FROM javari_runbook_runs WHERE id = $1")
            .bind(id)
            .fetch_one(&state.db)
            .await?;
    let mut values: Values = serde_json::from_value(json).unwrap_or_default();
    values.insert("namespace".into(), body.run.namespace.clone());
    if let Some(i) = body.run.incident_id {
        values.insert("incident.id".into(), i.to_string());
    }
    let planned = preview(r, &values).unwrap_or_default();
    let rows = body
        .steps
        .iter()
        .map(|s| {
            let n = s.number as i32;
            let attempts: Vec<StepRunRow> = body
                .attempts
                .iter()
                .filter(|a| a.step_number == n)
                .cloned()
                .collect();
            let state = if n < body.run.current_step {
                "done"
            } else if n == body.run.current_step {
                match body.run.status.as_str() {
                    "failed" => "failed",
                    "awaiting_approval" => "awaiting approval",
                    "running" => "next",
                    _ => "",
                }
            } else {
                ""
            };
            RunStepRow {
                does: planned
                    .iter()
                    .find(|p| p.number == s.number)
                    .map(|p| p.does.clone())
                    .unwrap_or_default(),
                step: s.clone(),
                state,
                attempts,
            }
        })
        .collect();
    Ok(RunPage {
        can_run: current.user.role >= Role::Operator,
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        title: r.meta.title.clone(),
        run: body.run,
        rows,
        current: body.current,
        notice: q.notice.unwrap_or_default(),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct StepForm {
    confirm: Option<String>,
}

/// `POST /runbook-runs/{id}/step`: runs the current step (the box confirms a change).
pub async fn page_step(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
    Form(f): Form<StepForm>,
) -> Result<Response, PageError> {
    let confirmed = f.confirm.is_some();
    match state
        .playbooks
        .runner(&state.db)
        .advance(id, &current.user.email, confirmed)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/runbook-runs/{id}")).into_response()),
        Err(RunError::NeedsConfirmation { .. }) => {
            Ok(Redirect::to(&format!("/runbook-runs/{id}?notice=confirm")).into_response())
        }
        Err(e) => Err(run_error(e).into()),
    }
}

/// `POST /runbook-runs/{id}/approve`.
pub async fn page_approve(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    state
        .playbooks
        .runner(&state.db)
        .approve(id, &current.user.email)
        .await
        .map_err(run_error)?;
    Ok(Redirect::to(&format!("/runbook-runs/{id}")).into_response())
}
