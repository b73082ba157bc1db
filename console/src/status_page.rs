//! The public status page's figures: each public component's state, uptime per window,
//! response-time percentiles and 90 day bars, computed from the health history and the
//! Monitors' status, and kept for `ttl` so the page, `/api/status` and the badges cost a few
//! rows at most every few seconds however often they are asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use javari_core::history::{DayBar, Window, day_bars, tiers, windows_stats};
use javari_core::statuspage::{ComponentState, Indicator, MonitorFacts, indicator, monitor_state};
use javari_crds::Monitor;
use kube::ResourceExt;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::AppState;
use crate::error::ApiError;
use crate::platform::public::display_name;

/// Days of uptime bars on the status page.
pub const BAR_DAYS: i64 = 90;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UptimeFigures {
    #[serde(rename = "1h")]
    pub hour: Option<f64>,
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    #[serde(rename = "90d")]
    pub quarter: Option<f64>,
}

impl UptimeFigures {
    pub fn get(&self, w: Window) -> Option<f64> {
        match w {
            Window::Hour => self.hour,
            Window::Day => self.day,
            Window::Week => self.week,
            Window::Month => self.month,
            Window::Quarter => self.quarter,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseTimes {
    pub p50: Option<i64>,
    pub p95: Option<i64>,
    pub p99: Option<i64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// `namespace/name` of the Monitor.
    pub id: String,
    #[serde(skip)]
    pub namespace: String,
    #[serde(skip)]
    pub monitor: String,
    pub name: String,
    pub status: ComponentState,
    pub uptime: UptimeFigures,
    /// Over the last 24 hours, as bucket upper bounds.
    pub response_time_ms: ResponseTimes,
    #[serde(skip)]
    pub bars: Vec<DayBar>,
    /// Each window's figures, as the Monitor page lists them.
    #[serde(skip)]
    pub windows: Vec<(Window, javari_core::history::WindowStats)>,
    #[serde(skip)]
    pub warning_ms: Option<i64>,
    #[serde(skip)]
    pub critical_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub indicator: Indicator,
    pub description: &'static str,
}

/// `GET /api/status`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusSummary {
    /// The worst component's state (operational when there is none).
    pub status: ComponentState,
    pub page: Page,
    pub components: Vec<Component>,
    pub updated_at: DateTime<Utc>,
}

impl StatusSummary {
    pub fn component(&self, namespace: &str, name: &str) -> Option<&Component> {
        self.components
            .iter()
            .find(|c| c.namespace == namespace && c.monitor == name)
    }
}

pub struct StatusCache {
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<StatusSummary>)>>,
}

impl StatusCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The summary if one younger than the ttl is kept.
    pub async fn fresh(&self) -> Option<Arc<StatusSummary>> {
        let cached = self.cached.lock().await;
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, summary)| summary.clone())
    }

    /// The summary, computed again once older than the ttl (one request computes it while
    /// the others wait for it).
    pub async fn get(&self, state: &AppState) -> Result<Arc<StatusSummary>, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, summary)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(summary.clone());
        }
        let summary = Arc::new(compute(state).await?);
        *cached = Some((Instant::now(), summary.clone()));
        Ok(summary)
    }
}

async fn compute(state: &AppState) -> Result<StatusSummary, ApiError> {
    let monitors = state
        .public
        .monitors(state.kube.as_ref(), state.watched.as_deref())
        .await
        .map_err(|e| ApiError::internal("cannot list public Monitors", e))?;
    let now = Utc::now();
    let t = tiers(&state.db).await?;
    let mut components = Vec::with_capacity(monitors.len());
    for m in monitors.iter() {
        components.push(component(state, t, m, now).await?);
    }
    let status = components
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(ComponentState::Operational);
    let ind = indicator(components.iter().map(|c| c.status));
    Ok(StatusSummary {
        status,
        page: Page {
            indicator: ind,
            description: ind.description(),
        },
        components,
        updated_at: now,
    })
}

/// One Monitor's figures (also used by the Monitor page).
pub async fn component(
    state: &AppState,
    t: javari_core::history::Tiers,
    m: &Monitor,
    now: DateTime<Utc>,
) -> Result<Component, ApiError> {
    let ns = m.namespace().unwrap_or_default();
    let name = m.name_any();
    let durations = Window::ALL.map(Window::duration);
    let (all, bars) = tokio::try_join!(
        windows_stats(&state.db, t, &ns, &name, now, &durations),
        day_bars(&state.db, t, &ns, &name, now, BAR_DAYS),
    )?;
    let uptimes: Vec<Option<f64>> = all.iter().map(|s| s.uptime()).collect();
    let day_stats = Window::ALL
        .iter()
        .position(|w| *w == Window::Day)
        .and_then(|i| all.get(i).cloned())
        .unwrap_or_default();
    let windows: Vec<(Window, javari_core::history::WindowStats)> =
        Window::ALL.into_iter().zip(all).collect();
    let status = m.status.clone().unwrap_or_default();
    let latency = m.spec.latency.as_ref();
    let p95 = day_stats.percentile(0.95);
    let state_now = monitor_state(MonitorFacts {
        state: status.state,
        suspended: m.spec.suspend,
        consecutive_failures: status.consecutive_failures,
        p95_ms: p95,
        warning_ms: latency.map(|l| l.warning_ms),
        critical_ms: latency.map(|l| l.critical_ms),
    });
    Ok(Component {
        id: format!("{ns}/{name}"),
        name: display_name(m),
        namespace: ns,
        monitor: name,
        status: state_now,
        uptime: UptimeFigures {
            hour: uptimes.first().copied().flatten(),
            day: uptimes.get(1).copied().flatten(),
            week: uptimes.get(2).copied().flatten(),
            month: uptimes.get(3).copied().flatten(),
            quarter: uptimes.get(4).copied().flatten(),
        },
        response_time_ms: ResponseTimes {
            p50: day_stats.percentile(0.5),
            p95,
            p99: day_stats.percentile(0.99),
        },
        bars,
        windows,
        warning_ms: latency.map(|l| l.warning_ms),
        critical_ms: latency.map(|l| l.critical_ms),
    })
}
