//! What each kind of step does once its placeholders are filled: `http`, `notify` and `sql` run
//! here; `kube` and `verify` go through a [`StepExecutor`] that holds the Kubernetes client.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use sqlx::PgPool;

use super::model::{Action, HttpMethod, KubeAction};
use super::sql::run_read_only;
use super::validate::placeholders;

/// Most bytes of a response body read by an `http` or `notify` step.
const BODY_LIMIT: usize = 64 * 1024;
/// Most characters of a step's output kept on the run and the incident timeline.
pub const OUTPUT_LIMIT: usize = 2000;

/// The Kubernetes side of runbook steps.
pub trait StepExecutor: Sync {
    /// Applies an allow-listed change in `namespace`; the answer says what changed.
    fn kube(
        &self,
        namespace: &str,
        action: &KubeAction,
        actor: &str,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// Evaluates the Monitor's conditions now; `Err` names the condition that failed.
    fn verify(
        &self,
        namespace: &str,
        monitor: &str,
    ) -> impl Future<Output = Result<String, String>> + Send;
}

/// The values a run fills placeholders with.
pub type Values = BTreeMap<String, String>;

/// `{{ name }}` replaced by its value; an unknown name is an error, not an empty string.
pub fn render(text: &str, values: &Values) -> Result<String, String> {
    let mut out = text.to_owned();
    for name in placeholders(text)? {
        let value = values
            .get(name)
            .ok_or_else(|| format!("no value for {{{{ {name} }}}}"))?;
        out = replace_placeholder(&out, name, value);
    }
    Ok(out)
}

fn replace_placeholder(text: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) if after[..close].trim() == name => {
                out.push_str(&rest[..open]);
                out.push_str(value);
                rest = &after[close + 2..];
            }
            _ => {
                out.push_str(&rest[..open + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The action with its placeholders filled (SQL keeps them: they become bind parameters).
pub fn rendered(action: &Action, values: &Values) -> Result<Action, String> {
    Ok(match action {
        Action::Http {
            method,
            url,
            expect_status,
        } => Action::Http {
            method: *method,
            url: render(url, values)?,
            expect_status: *expect_status,
        },
        Action::Kube(k) => Action::Kube(render_kube(k, values)?),
        Action::Verify { monitor } => Action::Verify {
            monitor: render(monitor, values)?,
        },
        Action::Notify { webhook, text } => Action::Notify {
            webhook: render(webhook, values)?,
            text: render(text, values)?,
        },
        Action::Manual { checklist } => Action::Manual {
            checklist: checklist
                .iter()
                .map(|c| render(c, values))
                .collect::<Result<_, _>>()?,
        },
        other @ (Action::Sql { .. } | Action::Approval { .. }) => other.clone(),
    })
}

fn render_kube(k: &KubeAction, v: &Values) -> Result<KubeAction, String> {
    use KubeAction::*;
    Ok(match k {
        RollbackProject { project } => RollbackProject {
            project: render(project, v)?,
        },
        RestartDeployment { deployment } => RestartDeployment {
            deployment: render(deployment, v)?,
        },
        ScaleDeployment {
            deployment,
            replicas,
        } => ScaleDeployment {
            deployment: render(deployment, v)?,
            replicas: render(replicas, v)?,
        },
        RotateCredential { credential } => RotateCredential {
            credential: render(credential, v)?,
        },
        SuspendMonitor { monitor } => SuspendMonitor {
            monitor: render(monitor, v)?,
        },
        ResumeMonitor { monitor } => ResumeMonitor {
            monitor: render(monitor, v)?,
        },
        FailoverProvider { provider } => FailoverProvider {
            provider: render(provider, v)?,
        },
    })
}

/// Slack-compatible webhook body.
#[derive(Serialize)]
struct SlackMessage<'a> {
    text: &'a str,
}

/// Runs one attempt of a rendered, automated step.
pub async fn execute<E: StepExecutor>(
    action: &Action,
    values: &Values,
    timeout: Duration,
    pool: &PgPool,
    http: &reqwest::Client,
    executor: &E,
    actor: &str,
) -> Result<String, String> {
    let namespace = values.get("namespace").map(String::as_str).unwrap_or("");
    match action {
        Action::Sql { query, row_limit } => {
            let lookup = |name: &str| values.get(name).cloned();
            let table = run_read_only(pool, query, &lookup, timeout, *row_limit)
                .await
                .map_err(|e| e.to_string())?;
            Ok(table_text(&table))
        }
        Action::Http {
            method,
            url,
            expect_status,
        } => {
            let method = match method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Head => reqwest::Method::HEAD,
                HttpMethod::Post => reqwest::Method::POST,
                HttpMethod::Put => reqwest::Method::PUT,
            };
            let response = http
                .request(method, url)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = response.status().as_u16();
            let body = bounded_body(response).await;
            if status == *expect_status {
                Ok(format!("{status}: {body}"))
            } else {
                Err(format!("expected {expect_status}, got {status}: {body}"))
            }
        }
        Action::Notify { webhook, text } => {
            let response = http
                .post(webhook)
                .timeout(timeout)
                .json(&SlackMessage { text })
                .send()
                .await
                .map_err(|e| format!("webhook failed: {e}"))?;
            let status = response.status();
            if status.is_success() {
                Ok(format!("webhook answered {}", status.as_u16()))
            } else {
                Err(format!("webhook answered {}", status.as_u16()))
            }
        }
        Action::Kube(k) => executor.kube(namespace, k, actor).await,
        Action::Verify { monitor } => executor.verify(namespace, monitor).await,
        Action::Manual { .. } | Action::Approval { .. } => {
            Err("manual and approval steps are done by people".to_owned())
        }
    }
}

async fn bounded_body(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = BODY_LIMIT.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= BODY_LIMIT {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn table_text(table: &super::sql::Table) -> String {
    let mut out = table.columns.join(" | ");
    for row in &table.rows {
        out.push('\n');
        out.push_str(&row.join(" | "));
    }
    if table.truncated {
        out.push_str("\n(more rows than the limit)");
    }
    out
}

/// Output as it is kept: secrets' values masked, control characters dropped, bounded.
pub fn redact(text: &str) -> String {
    const SENSITIVE: [&str; 7] = [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "bearer",
    ];
    let mut out = String::with_capacity(text.len().min(OUTPUT_LIMIT));
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let lower = line.to_ascii_lowercase();
        if SENSITIVE.iter().any(|k| lower.contains(k)) {
            let keep = line.find([':', '=']).map(|at| &line[..=at]).unwrap_or("");
            out.push_str(keep);
            out.push_str(" [redacted]");
        } else {
            out.extend(line.chars().filter(|c| !c.is_control() || *c == '\t'));
        }
        if out.chars().count() > OUTPUT_LIMIT {
            break;
        }
    }
    let mut bounded: String = out.chars().take(OUTPUT_LIMIT).collect();
    if out.chars().count() > OUTPUT_LIMIT {
        bounded.push('…');
    }
    bounded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        [("project", "web"), ("namespace", "prod")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_refused() {
        assert_eq!(
            render(
                "roll back {{ project }} in {{namespace}} ({{ project }})",
                &values()
            ),
            Ok("roll back web in prod (web)".to_owned())
        );
        assert!(render("{{ nope }}", &values()).is_err());
        let k = rendered(
            &Action::Kube(KubeAction::RollbackProject {
                project: "{{ project }}".into(),
            }),
            &values(),
        );
        assert_eq!(
            k,
            Ok(Action::Kube(KubeAction::RollbackProject {
                project: "web".into()
            }))
        );
    }

    #[test]
    fn outputs_lose_secrets_and_stay_bounded() {
        let out = redact("ok\nAuthorization: Bearer sk-live-123\npassword=hunter2\nrows: 3");
        assert_eq!(
            out,
            "ok\nAuthorization: [redacted]\npassword= [redacted]\nrows: 3"
        );
        assert!(!out.contains("sk-live") && !out.contains("hunter2"));
        let long = redact(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), OUTPUT_LIMIT + 1);
        assert_eq!(redact("a\u{7}b"), "ab");
    }
}
