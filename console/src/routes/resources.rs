//! Pages for each kind of Javari resource, list and detail, read from the console's watched
//! stores (the Kubernetes API only until a watch is current, for an object the store does not
//! hold yet, and right after the viewer's own action so the page shows it), with filters
//! (`?namespace=` and `?state=` with a Statuspage state) and pages of [`PAGE_SIZE`] rows
//! (`?page=`), and the actions on them (operator role; the gate checks the role and the CSRF
//! token).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use chrono::{TimeDelta, Utc};
use javari_core::conditions::is_true;
use javari_core::history::{monitor_trend, tiers};
use javari_core::overview::{
    AuditRow, FailureDay, OpenIncident, ProviderDay, RecentCheck, audit_log, failure_days,
    incidents_of, probe_hours, provider_days, providers, recent_checks,
};
use javari_core::providers::{ProviderDayCounts, provider_day_counts};
use javari_core::statuspage::{ComponentState, monitor_state, project_state, provider_state};
use javari_core::svg::{Bar, Series, line_chart, percent, uptime_bars};
use javari_core::vault::{AuditEntry, recent_audit};
use javari_crds::common::condition::{DEGRADED, READY, ROTATING};
use javari_crds::{Credential, Monitor, Project, Provider};
use kube::{Client, ResourceExt};
use serde::{Deserialize, Serialize};

use super::overview::{credential_due, monitor_facts};
use crate::AppState;
use crate::auth::{CurrentUser, Role, User};
use crate::error::{ApiError, PageError};
use crate::platform::{
    Action, ActionError, EventView, REQUESTED_BY_ANNOTATION, SetValueError, WatchedKind, events,
    get, get_watched, list_watched, perform, set_external_value,
};
use crate::status_page::component;

/// Rows per list page.
pub const PAGE_SIZE: usize = 100;

#[derive(Deserialize, Default)]
pub struct Filters {
    namespace: Option<String>,
    state: Option<String>,
    notice: Option<String>,
    /// 1-based; past the last page shows the last one.
    page: Option<usize>,
}

impl Filters {
    fn namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }

    fn keeps(&self, s: ComponentState) -> bool {
        match self
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(want) => s.as_str() == want,
            None => true,
        }
    }
}

fn client(state: &AppState) -> Result<&Client, ApiError> {
    state.kube.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this console has no Kubernetes API (JAVARI_KUBE): resource pages and actions are unavailable",
        )
    })
}

fn kube_error(e: kube::Error) -> ApiError {
    match e {
        kube::Error::Api(s) if s.code == 403 => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the console's ServiceAccount may not do this: {}",
                s.message
            ),
        ),
        kube::Error::Api(s) if s.code == 404 => ApiError::not_found("object"),
        kube::Error::Api(s) if s.code == 400 || s.code == 422 => {
            ApiError::bad_request(format!("refused by the Kubernetes API: {}", s.message))
        }
        e => ApiError::internal("cannot read from the Kubernetes API", e),
    }
}

/// A namespace (a DNS label) and an object name (a DNS subdomain), as Kubernetes takes them.
fn check_object(ns: &str, name: &str) -> Result<(), ApiError> {
    use javari_core::schema::target::{is_dns_label, is_object_name};
    if !is_dns_label(ns) {
        return Err(ApiError::bad_request(
            "namespace: lower-case letters, digits and '-', at most 63",
        ));
    }
    if !is_object_name(name) {
        return Err(ApiError::bad_request(
            "name: a Kubernetes object name (lower-case letters, digits, '-' and '.')",
        ));
    }
    Ok(())
}

/// One row of a list page, whatever the kind.
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub href: String,
    pub state: ComponentState,
    /// Kind-specific columns, in the order of the page's headers.
    pub cells: Vec<String>,
}

pub const STATES: [ComponentState; 5] = [
    ComponentState::Operational,
    ComponentState::DegradedPerformance,
    ComponentState::PartialOutage,
    ComponentState::MajorOutage,
    ComponentState::UnderMaintenance,
];

#[derive(Template, WebTemplate)]
#[template(path = "resource_list.html")]
struct ListPage {
    user: User,
    csrf: String,
    title: &'static str,
    path: &'static str,
    headers: Vec<&'static str>,
    rows: Vec<Row>,
    namespace: String,
    state_filter: String,
    states: Vec<ComponentState>,
    paging: Paging,
}

/// Where a list page is within all the rows that match its filters.
#[derive(Debug, PartialEq)]
pub struct Paging {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    /// 1-based positions of the first and last row shown (0 and 0 when nothing matches).
    pub first: usize,
    pub last: usize,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
}

impl Paging {
    /// Page `asked` (1-based, clamped to the pages there are) of `total` rows.
    fn new(path: &str, f: &Filters, total: usize, asked: Option<usize>) -> Self {
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = asked.unwrap_or(1).clamp(1, pages);
        let first = (page - 1) * PAGE_SIZE;
        let last = (first + PAGE_SIZE).min(total);
        let href = |p: usize| {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(ns) = f.namespace() {
                query.push(("namespace", ns.to_owned()));
            }
            if let Some(s) = f.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                query.push(("state", s.to_owned()));
            }
            query.push(("page", p.to_string()));
            format!(
                "{path}?{}",
                serde_urlencoded::to_string(&query).unwrap_or_default()
            )
        };
        Self {
            page,
            pages,
            total,
            first: if total == 0 { 0 } else { first + 1 },
            last,
            prev_href: (page > 1).then(|| href(page - 1)),
            next_href: (page < pages).then(|| href(page + 1)),
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.first.saturating_sub(1)..self.last
    }
}

fn list_page(
    current: CurrentUser,
    title: &'static str,
    path: &'static str,
    headers: Vec<&'static str>,
    mut rows: Vec<Row>,
    f: &Filters,
) -> Response {
    let paging = Paging::new(path, f, rows.len(), f.page);
    let rows: Vec<Row> = rows.drain(paging.range()).collect();
    ListPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        title,
        path,
        headers,
        rows,
        namespace: f.namespace().unwrap_or_default().to_owned(),
        state_filter: f.state.clone().unwrap_or_default(),
        states: STATES.to_vec(),
        paging,
    }
    .into_response()
}

/// Every `K` matching the namespace filter, from the watched store.
async fn listed<K>(state: &AppState, f: &Filters) -> Result<Vec<K>, ApiError>
where
    K: WatchedKind,
{
    list_watched::<K>(state.watched.as_deref(), client(state)?, f.namespace())
        .await
        .map_err(kube_error)
}

fn time(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.map(javari_core::time::from_k8s)
        .map_or("–".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        })
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or("–".to_owned(), |v| v.to_string())
}

/// `GET /projects`.
pub async fn projects(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let items = listed::<Project>(&state, &f).await?;
    let rows = items
        .iter()
        .filter_map(|p| {
            let status = p.status.clone().unwrap_or_default();
            let s = project_state(status.health);
            f.keeps(s).then(|| {
                let (namespace, name) = (p.namespace().unwrap_or_default(), p.name_any());
                Row {
                    href: format!("/projects/{namespace}/{name}"),
                    cells: vec![
                        status.health.to_string(),
                        or_dash(status.deployed_image.as_ref()),
                        or_dash(status.deployed_commit.as_ref()),
                        or_dash(status.last_known_good.as_ref().map(|r| r.image.clone())),
                        status.rollbacks.len().to_string(),
                    ],
                    namespace,
                    name,
                    state: s,
                }
            })
        })
        .collect();
    Ok(list_page(
        current,
        "Projects",
        "/projects",
        vec![
            "Health",
            "Deployed image",
            "Commit",
            "Last known good",
            "Rollbacks",
        ],
        rows,
        &f,
    ))
}

/// `GET /monitors`.
pub async fn monitors(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let items = listed::<Monitor>(&state, &f).await?;
    let rows = items
        .iter()
        .filter_map(|m| {
            let status = m.status.clone().unwrap_or_default();
            let s = monitor_state(monitor_facts(m));
            f.keeps(s).then(|| {
                let (namespace, name) = (m.namespace().unwrap_or_default(), m.name_any());
                Row {
                    href: format!("/monitors/{namespace}/{name}"),
                    cells: vec![
                        format!("{:?}", status.state),
                        m.spec
                            .url
                            .clone()
                            .or_else(|| {
                                m.spec
                                    .project_ref
                                    .as_ref()
                                    .map(|p| format!("Project {}", p.name))
                            })
                            .unwrap_or_default(),
                        or_dash(status.uptime.last24h.as_ref()),
                        or_dash(status.latency.as_ref().map(|l| format!("{} ms", l.p95_ms))),
                        time(status.last_check_at.as_ref()),
                    ],
                    namespace,
                    name,
                    state: s,
                }
            })
        })
        .collect();
    Ok(list_page(
        current,
        "Monitors",
        "/monitors",
        vec!["State", "Target", "Uptime 24 h", "p95 24 h", "Last check"],
        rows,
        &f,
    ))
}

/// `GET /providers` (from the rows the operator keeps, so it works without a cluster too).
pub async fn providers_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let rows = providers(&state.db, day_start)
        .await?
        .into_iter()
        .filter(|p| f.namespace().is_none_or(|ns| ns == p.namespace))
        .filter_map(|p| {
            let s = provider_state(p.health, p.enabled);
            f.keeps(s).then(|| Row {
                href: format!("/providers/{}/{}", p.namespace, p.name),
                cells: vec![
                    p.provider_type.clone(),
                    p.priority.to_string(),
                    if p.enabled {
                        p.health.to_string()
                    } else {
                        "Disabled".to_owned()
                    },
                    or_dash(p.latency_ms.map(|ms| format!("{ms} ms"))),
                    format!("${:.4}", p.cost_today_usd),
                ],
                namespace: p.namespace,
                name: p.name,
                state: s,
            })
        })
        .collect();
    Ok(list_page(
        current,
        "Providers",
        "/providers",
        vec!["API", "Priority", "Health", "Latency", "Cost today"],
        rows,
        &f,
    ))
}

/// `GET /credentials`: versions and schedules, never a value.
pub async fn credentials(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let items = listed::<Credential>(&state, &f).await?;
    let now = Utc::now();
    let rows = items
        .iter()
        .filter_map(|c| {
            let status = c.status.clone().unwrap_or_default();
            let s = credential_state(c);
            f.keeps(s).then(|| {
                let (namespace, name) = (c.namespace().unwrap_or_default(), c.name_any());
                Row {
                    href: format!("/credentials/{namespace}/{name}"),
                    cells: vec![
                        c.spec.service.clone(),
                        or_dash(status.version),
                        time(status.last_rotated_at.as_ref()),
                        time(status.next_rotation_at.as_ref()),
                        credential_due(c, now).unwrap_or_default(),
                    ],
                    namespace,
                    name,
                    state: s,
                }
            })
        })
        .collect();
    Ok(list_page(
        current,
        "Credentials",
        "/credentials",
        vec!["Service", "Version", "Last rotated", "Next rotation", "Due"],
        rows,
        &f,
    ))
}

fn credential_state(c: &Credential) -> ComponentState {
    let status = c.status.clone().unwrap_or_default();
    if is_true(&status.conditions, DEGRADED) {
        ComponentState::PartialOutage
    } else if is_true(&status.conditions, ROTATING) || !is_true(&status.conditions, READY) {
        ComponentState::DegradedPerformance
    } else {
        ComponentState::Operational
    }
}

/// What every detail page shows beside its kind's own figures.
pub struct Common {
    pub namespace: String,
    pub name: String,
    pub state: ComponentState,
    pub requested_by: Option<String>,
    pub events: Vec<EventView>,
    pub audit: Vec<AuditRow>,
    pub can_act: bool,
    pub notice: String,
}

async fn common(
    state: &AppState,
    current: &CurrentUser,
    kind: &str,
    meta: &kube::core::ObjectMeta,
    s: ComponentState,
    notice: Option<String>,
) -> Result<Common, ApiError> {
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let client = client(state)?;
    let resource = format!("{namespace}/{name}");
    let (events, audit) = tokio::try_join!(
        async {
            events(client, kind, &namespace, &name)
                .await
                .map_err(kube_error)
        },
        async {
            audit_log(&state.db, Some((kind, &resource)), 20)
                .await
                .map_err(ApiError::from)
        },
    )?;
    Ok(Common {
        requested_by: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REQUESTED_BY_ANNOTATION).cloned()),
        namespace,
        name,
        state: s,
        events,
        audit,
        can_act: current.user.role >= Role::Operator,
        notice: notice.unwrap_or_default(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "project.html")]
struct ProjectPage {
    user: User,
    csrf: String,
    c: Common,
    p: Project,
    monitors: Vec<Row>,
}

/// `ns/name` from the watched store, or from the API when the page follows the viewer's own
/// action (`fresh`: the store may not have seen the write yet).
async fn found<K>(
    state: &AppState,
    ns: &str,
    name: &str,
    what: &str,
    fresh: bool,
) -> Result<K, ApiError>
where
    K: WatchedKind,
{
    let client = client(state)?;
    let object = if fresh {
        get::<K>(client, ns, name).await
    } else {
        get_watched::<K>(state.watched.as_deref(), client, ns, name).await
    };
    object
        .map_err(kube_error)?
        .ok_or_else(|| ApiError::not_found(what))
}

/// `GET /projects/{ns}/{name}`.
pub async fn project(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let p: Project = found(&state, &ns, &name, "Project", f.notice.is_some()).await?;
    let s = project_state(p.status.clone().unwrap_or_default().health);
    let c = common(&state, &current, "Project", &p.metadata, s, f.notice).await?;
    let monitors = list_watched::<Monitor>(state.watched.as_deref(), client(&state)?, Some(&ns))
        .await
        .map_err(kube_error)?
        .iter()
        .filter(|m| m.spec.project_ref.as_ref().is_some_and(|r| r.name == name))
        .map(|m| {
            let status = m.status.clone().unwrap_or_default();
            Row {
                namespace: ns.clone(),
                name: m.name_any(),
                href: format!("/monitors/{ns}/{}", m.name_any()),
                state: monitor_state(monitor_facts(m)),
                cells: vec![
                    format!("{:?}", status.state),
                    or_dash(status.uptime.last24h.as_ref()),
                ],
            }
        })
        .collect();
    Ok(ProjectPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        c,
        p,
        monitors,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "provider.html")]
struct ProviderPage {
    user: User,
    csrf: String,
    c: Common,
    p: Provider,
    enabled: bool,
    days: Vec<ProviderDay>,
    latency_svg: String,
    probes: i64,
    failed_probes: i64,
    failures: Vec<FailureRow>,
}

/// One day of a Provider's failures: answers and errors from its performance rows,
/// truncations and fallbacks from `javari_provider_days`.
#[derive(Debug, Default, PartialEq)]
pub struct FailureRow {
    pub day: chrono::NaiveDate,
    pub answers: i64,
    pub errors: i64,
    pub truncated: i64,
    pub fallbacks: i64,
}

/// The days of either source, newest first.
fn failure_rows(performance: Vec<FailureDay>, counted: Vec<ProviderDayCounts>) -> Vec<FailureRow> {
    let mut days: std::collections::BTreeMap<chrono::NaiveDate, FailureRow> =
        std::collections::BTreeMap::new();
    for d in performance {
        let row = days.entry(d.day).or_default();
        row.answers = d.answers;
        row.errors = d.errors;
    }
    for d in counted {
        let row = days.entry(d.day).or_default();
        row.truncated = d.truncations;
        row.fallbacks = d.fallbacks;
    }
    days.into_iter()
        .rev()
        .map(|(day, row)| FailureRow { day, ..row })
        .collect()
}

/// `GET /providers/{ns}/{name}`.
pub async fn provider(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let p: Provider = found(&state, &ns, &name, "Provider", f.notice.is_some()).await?;
    let status = p.status.clone().unwrap_or_default();
    let s = provider_state(status.health, p.spec.enabled);
    let c = common(&state, &current, "Provider", &p.metadata, s, f.notice).await?;
    let now = Utc::now();
    let days = provider_days(&state.db, &name, now - TimeDelta::days(14)).await?;
    let since = now - TimeDelta::days(14);
    let failures = failure_rows(
        failure_days(&state.db, &ns, &name, since).await?,
        provider_day_counts(&state.db, &ns, &name, since.date_naive()).await?,
    );
    let (latency_svg, probes, failed_probes) = probe_chart(&state, &ns, &name, now).await?;
    Ok(ProviderPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        enabled: p.spec.enabled,
        c,
        p,
        days,
        latency_svg,
        probes,
        failed_probes,
        failures,
    }
    .into_response())
}

/// The last 24 hours of probes: an SVG chart of the median and slowest probe per hour, the
/// number of probes and of failed ones.
async fn probe_chart(
    state: &AppState,
    ns: &str,
    name: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(String, i64, i64), ApiError> {
    let first = javari_core::history::floor_hour(now) - TimeDelta::hours(23);
    let rows = probe_hours(&state.db, ns, name, first).await?;
    let hours: Vec<chrono::DateTime<Utc>> = (0..24).map(|i| first + TimeDelta::hours(i)).collect();
    let at = |hour: &chrono::DateTime<Utc>| rows.iter().find(|r| r.hour == *hour);
    let labels: Vec<String> = hours
        .iter()
        .map(|h| h.format("%H:00").to_string())
        .collect();
    let svg = line_chart(
        &format!("{ns}/{name}: probe latency per hour (median and slowest), last 24 hours"),
        " ms",
        &labels,
        &[
            Series {
                name: "median".into(),
                color: "#1565c0".into(),
                values: hours.iter().map(|h| at(h).and_then(|r| r.p50_ms)).collect(),
            },
            Series {
                name: "slowest".into(),
                color: "#b3261e".into(),
                values: hours
                    .iter()
                    .map(|h| at(h).and_then(|r| r.max_ms).map(f64::from))
                    .collect(),
            },
        ],
    );
    Ok((
        svg,
        rows.iter().map(|r| r.probes).sum(),
        rows.iter().map(|r| r.failed).sum(),
    ))
}

pub struct WindowRow {
    pub label: &'static str,
    pub uptime: String,
    pub checks: i64,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "monitor.html")]
struct MonitorPage {
    user: User,
    csrf: String,
    c: Common,
    m: Monitor,
    suspended: bool,
    windows: Vec<WindowRow>,
    bars_svg: String,
    latency_svg: String,
    checks: Vec<RecentCheck>,
    incidents: Vec<OpenIncident>,
}

fn ms(v: Option<i64>) -> String {
    v.map_or("–".to_owned(), |v| format!("≤ {v} ms"))
}

/// `GET /monitors/{ns}/{name}`.
pub async fn monitor(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let m: Monitor = found(&state, &ns, &name, "Monitor", f.notice.is_some()).await?;
    let now = Utc::now();
    let t = tiers(&state.db).await?;
    // The page's reads are independent: run them together (each on its own connection).
    let (figures, trend, checks, incidents, c) = tokio::try_join!(
        component(&state, t, &m, now),
        async {
            monitor_trend(&state.db, t, &ns, &name, now, 24)
                .await
                .map_err(ApiError::from)
        },
        async {
            recent_checks(&state.db, &ns, &name, 20)
                .await
                .map_err(ApiError::from)
        },
        async {
            incidents_of(&state.db, "monitor", &ns, &name, 10)
                .await
                .map_err(ApiError::from)
        },
        common(
            &state,
            &current,
            "Monitor",
            &m.metadata,
            monitor_state(monitor_facts(&m)),
            f.notice.clone(),
        ),
    )?;
    let c = Common {
        state: figures.status,
        ..c
    };
    let mut windows = Vec::new();
    for (w, stats) in &figures.windows {
        windows.push(WindowRow {
            label: w.label(),
            uptime: percent(stats.uptime()),
            checks: stats.checks,
            p50: ms(stats.percentile(0.5)),
            p95: ms(stats.percentile(0.95)),
            p99: ms(stats.percentile(0.99)),
        });
    }
    let bars: Vec<Bar> = figures
        .bars
        .iter()
        .map(|b| Bar {
            label: b.day.to_string(),
            uptime: b.uptime(),
            checks: b.checks,
        })
        .collect();
    let bars_svg = uptime_bars(
        &format!(
            "{ns}/{name}: uptime per day over the last {} days",
            bars.len()
        ),
        &bars,
    );
    let labels: Vec<String> = trend
        .iter()
        .map(|p| p.hour.format("%H:00").to_string())
        .collect();
    let pct = |q: f64| -> Vec<Option<f64>> {
        trend
            .iter()
            .map(|p| p.histogram.percentile(q).map(|v| v as f64))
            .collect()
    };
    let latency_svg = line_chart(
        &format!("{ns}/{name}: response time per hour (p50, p95, p99), last 24 hours"),
        " ms",
        &labels,
        &[
            Series {
                name: "p50".into(),
                color: "#1565c0".into(),
                values: pct(0.5),
            },
            Series {
                name: "p95".into(),
                color: "#b26a00".into(),
                values: pct(0.95),
            },
            Series {
                name: "p99".into(),
                color: "#b3261e".into(),
                values: pct(0.99),
            },
        ],
    );
    Ok(MonitorPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        suspended: m.spec.suspend,
        c,
        m,
        windows,
        bars_svg,
        latency_svg,
        checks,
        incidents,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "credential.html")]
struct CredentialPage {
    user: User,
    csrf: String,
    c: Common,
    k: Credential,
    source: &'static str,
    trail: Vec<AuditEntry>,
    /// Its value is set through the console (the write-only form).
    external: bool,
}

/// `GET /credentials/{ns}/{name}`: never a value (the console does not read Secrets).
pub async fn credential(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let k: Credential = found(&state, &ns, &name, "Credential", f.notice.is_some()).await?;
    let s = credential_state(&k);
    let c = common(&state, &current, "Credential", &k.metadata, s, f.notice).await?;
    let trail = recent_audit(&state.db, &ns, &name, 20).await?;
    let source = if k.spec.source.generate.is_some() {
        "generated"
    } else if k.spec.source.secret_ref.is_some() {
        "imported from a Secret"
    } else {
        "set from outside (external)"
    };
    Ok(CredentialPage {
        external: k.spec.source.external.is_some(),
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        c,
        k,
        source,
        trail,
    }
    .into_response())
}

fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::NotFound(what) => ApiError::not_found(&what),
        ActionError::Kube(e) => kube_error(e),
        ActionError::Audit(e) => ApiError::from(e),
    }
}

async fn act(
    state: &AppState,
    user: &User,
    kind: &str,
    ns: &str,
    name: &str,
    action: &str,
) -> Result<(Action, String), ApiError> {
    let action = Action::parse(kind, action).ok_or_else(|| ApiError::not_found("action"))?;
    let token = perform(client(state)?, &state.db, action, ns, name, &user.email)
        .await
        .map_err(action_error)?;
    tracing::info!(actor = %user.email, action = action.name(), namespace = ns, name, "action requested from the console");
    Ok((action, token))
}

/// `POST /{kind}/{ns}/{name}/{action}` from a page's button.
pub async fn action_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((kind, ns, name, action)): Path<(String, String, String, String)>,
) -> Result<Response, PageError> {
    let (action, _) = act(&state, &current.user, &kind, &ns, &name, &action).await?;
    Ok(Redirect::to(&format!("/{kind}/{ns}/{name}?notice={}", action.name())).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Acted {
    action: Action,
    kind: &'static str,
    namespace: String,
    name: String,
    /// The value written to the annotation the operator answers (rollback, rotate-now).
    token: String,
    requested_by: String,
}

/// `POST /api/platform/{kind}/{ns}/{name}/{action}`.
#[utoipa::path(post, path = "/api/platform/{kind}/{namespace}/{name}/{action}", tag = "platform",
    params(("kind" = String, Path, description = "projects, providers, monitors or credentials"),
           ("namespace" = String, Path, description = "The resource's namespace"),
           ("name" = String, Path, description = "The resource's name"),
           ("action" = String, Path, description = "rollback (projects), rotate (credentials), suspend, resume or check-now (monitors), disable or enable (providers)")),
    responses((status = 202, description = "The request is on the resource; the operator acts on it", body = Acted)))]
pub async fn action_api(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((kind, ns, name, action)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let (action, token) = act(&state, &current.user, &kind, &ns, &name, &action).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Acted {
            action,
            kind: action.kind(),
            namespace: ns,
            name,
            token,
            requested_by: current.user.email.clone(),
        }),
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    user: User,
    csrf: String,
    rows: Vec<AuditRow>,
}

/// `GET /audit` (admins): the newest 200 rows of the audit log.
pub async fn audit_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    let rows = audit_log(&state.db, None, 200).await?;
    Ok(AuditPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        rows,
    }
    .into_response())
}

fn set_value_error(e: SetValueError) -> ApiError {
    let message = e.to_string();
    match e {
        SetValueError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, message),
        SetValueError::NotExternal(_) | SetValueError::Conflict => {
            ApiError::new(StatusCode::CONFLICT, message)
        }
        SetValueError::BadValue => ApiError::bad_request(message),
        SetValueError::NoVault => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        SetValueError::Vault(e) => ApiError::internal("cannot store the value in the vault", e),
        SetValueError::Kube(e) => kube_error(e),
        SetValueError::Audit(e) => ApiError::from(e),
    }
}

async fn set_value(
    state: &AppState,
    user: &User,
    ns: &str,
    name: &str,
    value: String,
) -> Result<i32, ApiError> {
    check_object(ns, name)?;
    let value = javari_core::vault::SecretValue::from(value);
    let version = set_external_value(
        client(state)?,
        state.vault.as_ref(),
        &state.db,
        ns,
        name,
        value,
        &user.email,
    )
    .await
    .map_err(set_value_error)?;
    tracing::info!(actor = %user.email, namespace = ns, name, version, "external Credential value set from the console");
    Ok(version)
}

/// The write-only form: the value, never shown again.
#[derive(Deserialize)]
pub struct ValueForm {
    value: String,
}

/// `POST /credentials/{ns}/{name}/value` (operators): sets an external Credential's value.
pub async fn set_value_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    axum::Form(form): axum::Form<ValueForm>,
) -> Result<Response, PageError> {
    set_value(&state, &current.user, &ns, &name, form.value).await?;
    Ok(Redirect::to(&format!("/credentials/{ns}/{name}?notice=set-value")).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    /// The value (1 to 8192 bytes); stored in the vault, never returned.
    #[schema(min_length = 1, max_length = 8192)]
    value: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueStored {
    namespace: String,
    name: String,
    /// The vault version now holding the value.
    version: i32,
    requested_by: String,
}

/// `POST /api/platform/credentials/{ns}/{name}/value` (operators).
#[utoipa::path(post, path = "/api/platform/credentials/{namespace}/{name}/value", tag = "platform",
    params(("namespace" = String, Path, description = "The Credential's namespace"),
           ("name" = String, Path, description = "The Credential's name (its source must be external)")),
    request_body = NewValue,
    responses((status = 202, description = "Stored; the operator materializes the new version", body = ValueStored)))]
pub async fn set_value_api(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((ns, name)): Path<(String, String)>,
    super::json::ApiJson(body): super::json::ApiJson<NewValue>,
) -> Result<Response, ApiError> {
    let version = set_value(&state, &current.user, &ns, &name, body.value).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ValueStored {
            namespace: ns,
            name,
            version,
            requested_by: current.user.email.clone(),
        }),
    )
        .into_response())
}
