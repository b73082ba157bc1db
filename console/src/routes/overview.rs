//! The home page: the platform at a glance for whoever is on call. Components with
//! Statuspage states, open incidents by severity, Providers with health, latency and
//! today's cost, Monitors down or degraded, Credentials rotating or due within 14 days, the
//! freshest backup and the last restore drill, and the last 24 hours. The tiles are one fragment: the page is whole without JavaScript, and
//! with it a small script swaps in the fragment the server sends every few seconds (SSE).

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use futures::Stream;
use javari_core::history::tiers;
use javari_core::overview::{OpenIncident, open_incidents, providers};
use javari_core::statuspage::{
    ComponentState, MonitorFacts, indicator, monitor_state, project_state, provider_state,
};
use javari_core::svg::{Series, line_chart};
use javari_crds::monitor::MonitorState;
use javari_crds::{Credential, Monitor, Project};
use kube::ResourceExt;

use crate::AppState;
use crate::auth::{CurrentUser, User};
use crate::error::{ApiError, PageError};
use crate::platform::list_watched;

/// Credentials due within this many days are listed.
pub const DUE_DAYS: i64 = 14;
/// How often live tiles are sent, and how long one stream lasts (the browser reconnects).
const LIVE_EVERY: Duration = Duration::from_secs(5);
const LIVE_FOR: Duration = Duration::from_secs(600);

pub struct ComponentRow {
    pub kind: &'static str,
    pub href: String,
    pub name: String,
    pub state: ComponentState,
}

pub struct ProviderTile {
    pub name: String,
    pub href: String,
    pub health: String,
    pub state: ComponentState,
    pub latency: String,
    pub cost_today: String,
    pub answers_today: i64,
}

pub struct MonitorTile {
    pub name: String,
    pub href: String,
    pub state: ComponentState,
    pub detail: String,
}

pub struct CredentialTile {
    pub name: String,
    pub href: String,
    pub why: String,
}

/// The freshest complete backup and the last drill, as the overview says them.
pub struct BackupTile {
    /// `prod/db: 2h 5m ago (2026-11-28 03:00 UTC)`; `None`: no complete backup.
    pub freshest: Option<String>,
    /// `passed in 12.3s (restore time), 2026-11-28 04:00 UTC`; `None`: no drill yet.
    pub last_drill: Option<String>,
    pub drill_ok: bool,
}

async fn backup_tile(state: &AppState, now: DateTime<Utc>) -> Result<BackupTile, ApiError> {
    let freshest = javari_core::backups::freshest_backup(&state.db)
        .await?
        .and_then(|b| {
            let at = b.snapshot_at?;
            let mins = (now - at).num_minutes().max(0);
            Some(format!(
                "{}: {}h {}m ago ({})",
                b.policy.unwrap_or_default(),
                mins / 60,
                mins % 60,
                at.format("%Y-%m-%d %H:%M UTC")
            ))
        });
    let drill = javari_core::backups::last_drill(&state.db).await?;
    Ok(BackupTile {
        freshest,
        drill_ok: drill.as_ref().is_some_and(|(v, _)| v.ok),
        last_drill: drill.map(|(v, policy)| {
            let outcome = if v.ok {
                v.restore_ms.map_or("passed".to_owned(), |ms| {
                    format!("passed, restored in {:.1}s (RTO)", ms as f64 / 1000.0)
                })
            } else {
                format!("failed: {}", v.detail.unwrap_or_default())
            };
            format!(
                "{}: {outcome}, {}",
                policy.unwrap_or_default(),
                v.finished_at.format("%Y-%m-%d %H:%M UTC")
            )
        }),
    })
}

pub struct Tiles {
    pub description: &'static str,
    pub backups: BackupTile,
    pub indicator: String,
    pub components: Vec<ComponentRow>,
    pub severities: Vec<(String, i64)>,
    pub incidents: Vec<OpenIncident>,
    pub providers: Vec<ProviderTile>,
    pub monitors: Vec<MonitorTile>,
    pub credentials: Vec<CredentialTile>,
    pub uptime_chart: String,
    pub latency_chart: String,
    pub note: Option<String>,
    pub generated: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
struct OverviewPage {
    user: User,
    csrf: String,
    t: Tiles,
}

#[derive(Template)]
#[template(path = "overview_tiles.html")]
struct TilesFragment {
    t: Tiles,
}

fn href(kind: &str, ns: &str, name: &str) -> String {
    format!("/{kind}/{ns}/{name}")
}

pub fn monitor_facts(m: &Monitor) -> MonitorFacts {
    let status = m.status.clone().unwrap_or_default();
    MonitorFacts {
        state: status.state,
        suspended: m.spec.suspend,
        consecutive_failures: status.consecutive_failures,
        p95_ms: status.latency.as_ref().map(|l| l.p95_ms),
        warning_ms: m.spec.latency.as_ref().map(|l| l.warning_ms),
        critical_ms: m.spec.latency.as_ref().map(|l| l.critical_ms),
    }
}

/// Why a Credential needs attention within `DUE_DAYS`, if it does.
pub fn credential_due(c: &Credential, now: DateTime<Utc>) -> Option<String> {
    let status = c.status.clone().unwrap_or_default();
    let horizon = now + TimeDelta::days(DUE_DAYS);
    let rotating = javari_core::conditions::is_true(
        &status.conditions,
        javari_crds::common::condition::ROTATING,
    );
    if rotating {
        return Some("rotating now".to_owned());
    }
    let expires = status
        .expires_at
        .as_ref()
        .or(c.spec.expires_at.as_ref())
        .map(javari_core::time::from_k8s);
    if let Some(at) = expires.filter(|at| *at <= horizon) {
        return Some(format!("expires {}", at.format("%Y-%m-%d %H:%M UTC")));
    }
    let next = status
        .next_rotation_at
        .as_ref()
        .map(javari_core::time::from_k8s);
    next.filter(|at| *at <= horizon)
        .map(|at| format!("rotates {}", at.format("%Y-%m-%d %H:%M UTC")))
}

pub async fn tiles(state: &AppState) -> Result<Tiles, ApiError> {
    let now = Utc::now();
    let mut components = Vec::new();
    let mut monitors = Vec::new();
    let mut credentials = Vec::new();
    let mut note = None;
    match &state.kube {
        Some(client) => {
            let kube_error =
                |e: kube::Error| ApiError::internal("cannot read from the Kubernetes API", e);
            for p in list_watched::<Project>(state.watched.as_deref(), client, None)
                .await
                .map_err(kube_error)?
            {
                let (ns, name) = (p.namespace().unwrap_or_default(), p.name_any());
                let health = p.status.clone().unwrap_or_default().health;
                components.push(ComponentRow {
                    kind: "Project",
                    href: href("projects", &ns, &name),
                    name: format!("{ns}/{name}"),
                    state: project_state(health),
                });
            }
            for m in list_watched::<Monitor>(state.watched.as_deref(), client, None)
                .await
                .map_err(kube_error)?
            {
                let (ns, name) = (m.namespace().unwrap_or_default(), m.name_any());
                let s = monitor_state(monitor_facts(&m));
                components.push(ComponentRow {
                    kind: "Monitor",
                    href: href("monitors", &ns, &name),
                    name: format!("{ns}/{name}"),
                    state: s,
                });
                let status = m.status.clone().unwrap_or_default();
                if s != ComponentState::Operational && s != ComponentState::UnderMaintenance {
                    let down = status.state == MonitorState::Down;
                    monitors.push(MonitorTile {
                        name: format!("{ns}/{name}"),
                        href: href("monitors", &ns, &name),
                        state: s,
                        detail: format!(
                            "{}{} failure(s) in a row{}",
                            if down { "Down · " } else { "" },
                            status.consecutive_failures,
                            status
                                .last_error
                                .as_deref()
                                .map(|e| format!(" · {e}"))
                                .unwrap_or_default()
                        ),
                    });
                }
            }
            for c in list_watched::<Credential>(state.watched.as_deref(), client, None)
                .await
                .map_err(kube_error)?
            {
                if let Some(why) = credential_due(&c, now) {
                    let (ns, name) = (c.namespace().unwrap_or_default(), c.name_any());
                    credentials.push(CredentialTile {
                        name: format!("{ns}/{name}"),
                        href: href("credentials", &ns, &name),
                        why,
                    });
                }
            }
        }
        None => note = Some(
            "No Kubernetes API (JAVARI_KUBE): Projects, Monitors and Credentials are not shown."
                .to_owned(),
        ),
    }
    monitors.sort_by(|a, b| b.state.cmp(&a.state).then(a.name.cmp(&b.name)));
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let mut provider_tiles = Vec::new();
    for p in providers(&state.db, day_start).await? {
        let s = provider_state(p.health, p.enabled);
        components.push(ComponentRow {
            kind: "Provider",
            href: href("providers", &p.namespace, &p.name),
            name: format!("{}/{}", p.namespace, p.name),
            state: s,
        });
        provider_tiles.push(ProviderTile {
            name: format!("{}/{}", p.namespace, p.name),
            href: href("providers", &p.namespace, &p.name),
            health: if p.enabled {
                p.health.to_string()
            } else {
                "Disabled".to_owned()
            },
            state: s,
            latency: p.latency_ms.map_or("–".to_owned(), |ms| format!("{ms} ms")),
            cost_today: format!("${:.4}", p.cost_today_usd),
            answers_today: p.answers_today,
        });
    }
    components.sort_by(|a, b| b.state.cmp(&a.state).then(a.name.cmp(&b.name)));
    let ind = indicator(components.iter().map(|c| c.state));
    let (incidents, severities) = open_incidents(&state.db).await?;
    let t = tiers(&state.db).await?;
    let trend = state.fleet.trend(&state.db, t, now, 24).await?;
    let labels: Vec<String> = trend
        .iter()
        .map(|p| p.hour.format("%H:00").to_string())
        .collect();
    let uptime_chart = line_chart(
        "Uptime of all Monitors per hour, last 24 hours",
        "%",
        &labels,
        &[Series {
            name: "uptime".to_owned(),
            color: "#2e7d32".to_owned(),
            values: trend.iter().map(|p| p.uptime()).collect(),
        }],
    );
    let pct = |q: f64| -> Vec<Option<f64>> {
        trend
            .iter()
            .map(|p| p.histogram.percentile(q).map(|v| v as f64))
            .collect()
    };
    let latency_chart = line_chart(
        "Response time of all Monitors per hour (p50, p95, p99), last 24 hours",
        " ms",
        &labels,
        &[
            Series {
                name: "p50".to_owned(),
                color: "#1565c0".to_owned(),
                values: pct(0.5),
            },
            Series {
                name: "p95".to_owned(),
                color: "#b26a00".to_owned(),
                values: pct(0.95),
            },
            Series {
                name: "p99".to_owned(),
                color: "#b3261e".to_owned(),
                values: pct(0.99),
            },
        ],
    );
    Ok(Tiles {
        backups: backup_tile(state, now).await?,
        description: ind.description(),
        indicator: format!("{ind:?}").to_lowercase(),
        components,
        severities,
        incidents,
        providers: provider_tiles,
        monitors,
        credentials,
        uptime_chart,
        latency_chart,
        note,
        generated: now.format("%H:%M:%S UTC").to_string(),
    })
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, PageError> {
    let t = tiles(&state).await?;
    Ok(OverviewPage {
        csrf: current.csrf.clone().unwrap_or_default(),
        user: current.user,
        t,
    }
    .into_response())
}

/// `GET /overview/live`: the tiles fragment every few seconds as `tiles` events.
pub async fn live(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let started = tokio::time::Instant::now();
    let stream = futures::stream::unfold((state, true), move |(state, first)| async move {
        if !first {
            tokio::time::sleep(LIVE_EVERY).await;
        }
        if started.elapsed() > LIVE_FOR {
            return None;
        }
        let event = match tiles(&state).await {
            Ok(t) => match (TilesFragment { t }).render() {
                Ok(html) => Event::default().event("tiles").data(html),
                Err(e) => Event::default().event("failed").data(e.to_string()),
            },
            Err(e) => Event::default().event("failed").data(e.message),
        };
        Some((Ok(event), (state, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
