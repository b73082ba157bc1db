//! The Backups page: policies (read from Kubernetes: namespace, schedule, suspend, conditions;
//! and those only the database knows of) with their RPO now (age of the newest complete
//! backup) and last drill RTO, backups with size, duration, compression ratio and
//! verification level, and restores. Admins ask for a backup or a drill now (the request goes
//! to the BackupPolicy as the operator's `backup-now` / `verify-now` annotation) and restore
//! (see `restores.rs`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use javari_core::backups::{BackupRow, list_backups, list_verifications};
use javari_crds::BackupPolicy;
use javari_crds::backup_policy::{BACKUP_NOW_ANNOTATION, VERIFY_NOW_ANNOTATION};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::error::{ApiError, PageError};

/// Backups listed on the page.
const BACKUPS_SHOWN: i64 = 100;

/// One policy as the page shows it.
pub struct PolicyView {
    pub policy: String,
    /// From the BackupPolicy resource; `None` when only backup rows name the policy.
    pub resource: Option<PolicyResource>,
    pub newest: Option<DateTime<Utc>>,
    pub rpo_now: String,
    pub last_drill_rto: String,
    pub backups: usize,
}

/// What the BackupPolicy resource says.
pub struct PolicyResource {
    pub schedule: String,
    pub drill_schedule: String,
    pub suspend: bool,
    /// `Ready=True (BackupCompleted)`, and each condition so.
    pub conditions: Vec<String>,
    pub last_error: Option<String>,
}

impl PolicyResource {
    fn from_policy(p: &BackupPolicy) -> Self {
        let status = p.status.clone().unwrap_or_default();
        Self {
            schedule: p.spec.schedule.clone(),
            drill_schedule: p.spec.drill.schedule.clone(),
            suspend: p.spec.suspend,
            conditions: status
                .conditions
                .iter()
                .map(|c| {
                    if c.message.is_empty() {
                        format!("{}={} ({})", c.type_, c.status, c.reason)
                    } else {
                        format!("{}={} ({}): {}", c.type_, c.status, c.reason, c.message)
                    }
                })
                .collect(),
            last_error: status.last_error,
        }
    }
}

/// One backup row, formatted.
pub struct BackupView {
    pub row: BackupRow,
    pub size: String,
    pub original: String,
    pub ratio: String,
    pub duration: String,
}

fn bytes(n: Option<i64>) -> String {
    match n {
        None => "–".to_owned(),
        Some(n) if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        Some(n) if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        Some(n) if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        Some(n) => format!("{n} B"),
    }
}

fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "backups.html")]
struct BackupsPage {
    user: User,
    csrf: String,
    is_admin: bool,
    kube: bool,
    policies: Vec<PolicyView>,
    /// Why the policies could not be read from Kubernetes (listed from the database only).
    policies_note: String,
    backups: Vec<BackupView>,
    restores: Vec<javari_core::backups::RestoreRequest>,
    me: String,
    notice: String,
}

/// BackupPolicies in every namespace the console can see, by `namespace/name`; the error
/// text when they cannot be read.
async fn resources(state: &AppState) -> (BTreeMap<String, BackupPolicy>, String) {
    let Some(client) = &state.kube else {
        return (
            BTreeMap::new(),
            "the console is not connected to Kubernetes: policies are listed from their backups"
                .to_owned(),
        );
    };
    match Api::<BackupPolicy>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(list) => (
            list.items
                .into_iter()
                .map(|p| {
                    (
                        format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()),
                        p,
                    )
                })
                .collect(),
            String::new(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list BackupPolicies");
            (
                BTreeMap::new(),
                "BackupPolicies could not be read from Kubernetes: policies are listed from their backups".to_owned(),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct PageParams {
    notice: Option<String>,
}

fn db_error(e: sqlx::Error) -> ApiError {
    ApiError::internal("backups", e)
}

/// `GET /backups`.
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    let rows = list_backups(&state.db, None, BACKUPS_SHOWN)
        .await
        .map_err(db_error)?;
    let now = Utc::now();
    let (kube_policies, policies_note) = resources(&state).await;
    let mut by_policy: BTreeMap<String, Vec<&BackupRow>> = kube_policies
        .keys()
        .map(|k| (k.clone(), Vec::new()))
        .collect();
    for r in &rows {
        by_policy
            .entry(r.policy.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut policies = Vec::new();
    for (policy, list) in by_policy {
        let complete: Vec<_> = list.iter().filter(|b| b.is_complete()).collect();
        let newest = complete.first().and_then(|b| b.snapshot_at);
        let mut rto = "no drill yet".to_owned();
        for b in complete.iter().take(10) {
            let v = list_verifications(&state.db, b.id)
                .await
                .map_err(db_error)?;
            if let Some(d) = v.iter().find(|v| v.level == "drill" && v.ok) {
                rto = d
                    .restore_ms
                    .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                break;
            }
        }
        if rto == "no drill yet"
            && let Some(secs) = kube_policies
                .get(&policy)
                .and_then(|p| p.status.as_ref()?.last_drill_rto_seconds)
        {
            rto = format!("{secs:.1}s");
        }
        policies.push(PolicyView {
            resource: kube_policies.get(&policy).map(PolicyResource::from_policy),
            policy,
            newest,
            rpo_now: newest.map_or("no complete backup".to_owned(), |t| age(now - t)),
            last_drill_rto: rto,
            backups: complete.len(),
        });
    }
    let backups = rows
        .into_iter()
        .map(|row| BackupView {
            size: bytes(row.size_bytes),
            original: bytes(row.original_bytes),
            ratio: row
                .compression_ratio()
                .map_or("–".to_owned(), |r| format!("{r:.1}×")),
            duration: row
                .duration_ms
                .map_or("–".to_owned(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
            row,
        })
        .collect();
    Ok(BackupsPage {
        is_admin: current.user.role >= Role::Admin,
        csrf: current.csrf.clone().unwrap_or_default(),
        me: current.user.email.clone(),
        user: current.user,
        kube: state.kube.is_some(),
        policies,
        policies_note,
        backups,
        restores: javari_core::backups::list_restores(&state.db, super::restores::RESTORES_SHOWN)
            .await
            .map_err(db_error)?,
        notice: params.notice.unwrap_or_default(),
    }
    .into_response())
}

/// Sets `annotation` on BackupPolicy `namespace/name` to the current time.
async fn annotate(
    state: &AppState,
    namespace: &str,
    name: &str,
    annotation: &str,
) -> Result<(), ApiError> {
    let Some(client) = &state.kube else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backup and verify requests go to the BackupPolicy through the Kubernetes API, which this console is not connected to (JAVARI_KUBE)",
        ));
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !valid(namespace) || !valid(name) {
        return Err(ApiError::bad_request("invalid BackupPolicy name"));
    }
    let api: Api<BackupPolicy> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"annotations": {annotation: Utc::now().to_rfc3339()}}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(ApiError::not_found("BackupPolicy")),
        Err(e) => Err(ApiError::internal("BackupPolicy", e)),
    }
}

/// `POST /backups/{namespace}/{name}/backup-now` (admin).
pub async fn backup_now(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    annotate(&state, &namespace, &name, BACKUP_NOW_ANNOTATION).await?;
    Ok(Redirect::to("/backups?notice=backup"))
}

/// `POST /backups/{namespace}/{name}/verify-now` (admin).
pub async fn verify_now(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    annotate(&state, &namespace, &name, VERIFY_NOW_ANNOTATION).await?;
    Ok(Redirect::to("/backups?notice=verify"))
}
