//! Incident notifications: a Slack-compatible webhook on declared, acknowledged, severity
//! changed and resolved, retried with backoff, its result written to the timeline. The
//! webhook's URL is a secret (Slack's carry the key in the path): it never reaches the
//! timeline, logs or errors.

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::store::{EventKind, IncidentError, get, record};

/// Who writes webhook results on the timeline.
const ACTOR: &str = "javari-notify";

/// Where and how incident notifications go.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled each time.
    pub backoff: Duration,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

impl Webhook {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            attempts: 3,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Declared,
    Acknowledged,
    SeverityChanged,
    Resolved,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Acknowledged => "acknowledged",
            Self::SeverityChanged => "severity_changed",
            Self::Resolved => "resolved",
        }
    }
}

/// The body: Slack reads `text`; other receivers get the typed fields too.
#[derive(Serialize)]
struct Message<'a> {
    text: String,
    event: Notice,
    incident: IncidentRef<'a>,
}

#[derive(Serialize)]
struct IncidentRef<'a> {
    id: Uuid,
    title: &'a str,
    severity: &'a str,
    status: &'a str,
}

/// Sends the notice (retrying 5xx, 429 and connection failures) and records the outcome on
/// the incident's timeline. `Ok(true)` when the receiver took it.
pub async fn notify(
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
    webhook: &Webhook,
    id: Uuid,
    notice: Notice,
) -> Result<bool, IncidentError> {
    let incident = get(pool, id).await?;
    let verb = match notice {
        Notice::Declared => "declared",
        Notice::Acknowledged => "acknowledged",
        Notice::SeverityChanged => "is now",
        Notice::Resolved => "resolved",
    };
    let body = Message {
        text: format!(
            "[{}] {} {verb}{}",
            incident.severity,
            incident.title,
            if notice == Notice::SeverityChanged {
                format!(" {}", incident.severity)
            } else {
                String::new()
            }
        ),
        event: notice,
        incident: IncidentRef {
            id,
            title: &incident.title,
            severity: incident.severity.as_str(),
            status: incident.status.as_str(),
        },
    };
    let attempts = webhook.attempts.max(1);
    let mut wait = webhook.backoff;
    let mut last = String::new();
    let mut delivered = false;
    let mut tries = 0;
    for attempt in 1..=attempts {
        tries = attempt;
        let sent = http
            .post(&webhook.url)
            .timeout(webhook.timeout)
            .json(&body)
            .send()
            .await;
        let retry = match sent {
            Ok(r) if r.status().is_success() => {
                last = format!("answered {}", r.status().as_u16());
                delivered = true;
                false
            }
            Ok(r) => {
                let status = r.status();
                last = format!("answered {}", status.as_u16());
                status.is_server_error() || status.as_u16() == 429
            }
            Err(e) if e.is_timeout() => {
                last = format!("no answer within {:?}", webhook.timeout);
                true
            }
            Err(_) => {
                last = "could not connect".to_owned();
                true
            }
        };
        if !retry || attempt == attempts {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
    let outcome = if delivered { "delivered" } else { "failed" };
    let message = format!(
        "webhook for {}: {outcome}, {last} (attempt {tries} of {attempts})",
        notice.as_str()
    );
    record(pool, id, EventKind::Webhook, &message, ACTOR).await?;
    Ok(delivered)
}
