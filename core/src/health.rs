//! The `/api/health` report, in the shape of the source documents:
//! `{"status": "healthy", "timestamp": ..., "checks": {"database": {"status": ..., "latency": ms}}, "version": ...}`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// `healthy` or `unhealthy`, for the whole report and each check.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Unhealthy,
}

#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Check {
    pub status: Status,
    /// Round-trip time in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Checks {
    pub database: Check,
}

#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct HealthReport {
    pub status: Status,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
    pub version: &'static str,
}

impl HealthReport {
    /// Healthy only when every check is.
    pub fn from_checks(checks: Checks) -> Self {
        let status = if checks.database.status == Status::Healthy {
            Status::Healthy
        } else {
            Status::Unhealthy
        };
        Self {
            status,
            timestamp: Utc::now(),
            checks,
            version: crate::VERSION,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.status == Status::Healthy
    }
}

/// How long the database gets to answer before it counts as down.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pings PostgreSQL with `SELECT 1`.
pub async fn check_database(pool: &PgPool) -> Check {
    let started = Instant::now();
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    match tokio::time::timeout(DATABASE_TIMEOUT, ping).await {
        Ok(Ok(_)) => Check {
            status: Status::Healthy,
            latency: Some(elapsed_ms(started)),
            error: None,
        },
        Ok(Err(e)) => Check {
            status: Status::Unhealthy,
            latency: None,
            error: Some(describe(&e)),
        },
        Err(_) => Check {
            status: Status::Unhealthy,
            latency: None,
            error: Some(format!("no answer within {}s", DATABASE_TIMEOUT.as_secs())),
        },
    }
}

/// A short cause that carries no connection string or credentials.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::PoolTimedOut => "no connection available (database unreachable)".to_owned(),
        sqlx::Error::Io(e) => format!("I/O error: {}", e.kind()),
        sqlx::Error::Database(e) => format!("database error {}", e.code().unwrap_or_default()),
        sqlx::Error::PoolClosed => "connection pool closed".to_owned(),
        _ => "database unavailable".to_owned(),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_unhealthy_when_the_database_is() {
        let down = Check {
            status: Status::Unhealthy,
            latency: None,
            error: Some("x".into()),
        };
        let report = HealthReport::from_checks(Checks { database: down });
        assert!(!report.is_healthy());
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["status"], "unhealthy");
        assert_eq!(json["checks"]["database"]["status"], "unhealthy");
        assert!(json["timestamp"].is_string());
        assert_eq!(json["version"], crate::VERSION);
    }

    #[test]
    fn report_is_healthy_with_latency() {
        let up = Check {
            status: Status::Healthy,
            latency: Some(3),
            error: None,
        };
        let json =
            serde_json::to_value(HealthReport::from_checks(Checks { database: up })).expect("json");
        assert_eq!(json["status"], "healthy");
        assert_eq!(json["checks"]["database"]["latency"], 3);
        assert!(json["checks"]["database"].get("error").is_none());
    }
}
