//! Rules a parsed runbook must follow before anyone can run it: bounded steps, read-only SQL,
//! known placeholders, sane ids.

use std::time::Duration;

use super::model::{Action, CONTEXT_VARIABLES, MAX_BACKOFF, Runbook, Step};
use super::parse::{RunbookError, error};

/// Most steps one runbook may have.
pub const MAX_STEPS: usize = 50;
/// Longest timeout of an automated step (http, sql, kube, verify, notify).
pub const MAX_AUTOMATED_TIMEOUT: Duration = Duration::from_secs(3600);
/// Longest a person may take for a manual or approval step.
pub const MAX_PERSON_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
pub const MAX_RETRIES: u32 = 5;
pub const MAX_ROW_LIMIT: u32 = 1000;
pub const MAX_APPROVERS: u32 = 3;

/// Statements a `sql` step may start with. The READ ONLY transaction it runs in is the real
/// guard; this refuses an obvious write when the runbook is loaded rather than at 3 a.m.
const READ_KEYWORDS: &[&str] = &["select", "with", "explain", "show", "table", "values"];

pub fn validate(runbook: &Runbook) -> Result<(), RunbookError> {
    let meta = &runbook.meta;
    let id_ok = !meta.id.is_empty()
        && meta.id.len() <= 64
        && meta
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(error(
            2,
            format!(
                "id {:?}: lowercase letters, digits and '-', at most 64",
                meta.id
            ),
        ));
    }
    if meta.severities.is_empty() {
        return Err(error(2, "severities: name at least one of P0, P1, P2, P3"));
    }
    if runbook.steps.is_empty() {
        return Err(error(2, "a runbook needs at least one `## 1. …` step"));
    }
    if runbook.steps.len() > MAX_STEPS {
        return Err(error(
            runbook.steps[MAX_STEPS].line,
            format!("at most {MAX_STEPS} steps"),
        ));
    }
    for step in &runbook.steps {
        validate_step(runbook, step)?;
    }
    Ok(())
}

fn validate_step(runbook: &Runbook, step: &Step) -> Result<(), RunbookError> {
    let at = |message: String| error(step.line, format!("step {}: {message}", step.number));
    let person = matches!(step.action, Action::Manual { .. } | Action::Approval { .. });
    let max = if person {
        MAX_PERSON_TIMEOUT
    } else {
        MAX_AUTOMATED_TIMEOUT
    };
    if step.timeout.is_zero() || step.timeout > max {
        return Err(at(format!(
            "timeout {:?} must be above zero and at most {:?}",
            step.timeout, max
        )));
    }
    if step.retries > MAX_RETRIES {
        return Err(at(format!("retries at most {MAX_RETRIES}")));
    }
    if step.backoff > MAX_BACKOFF {
        return Err(at(format!("backoff at most {MAX_BACKOFF:?}")));
    }
    match &step.action {
        Action::Sql { query, row_limit } => {
            if *row_limit == 0 || *row_limit > MAX_ROW_LIMIT {
                return Err(at(format!("row_limit between 1 and {MAX_ROW_LIMIT}")));
            }
            read_only_statement(query).map_err(at)?;
        }
        Action::Http {
            url, expect_status, ..
        } => {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("{{"))
            {
                return Err(at(format!("url {url:?} must be http(s)")));
            }
            if !(100..=599).contains(expect_status) {
                return Err(at(format!(
                    "expect_status {expect_status} is no HTTP status"
                )));
            }
        }
        Action::Approval { approvers } => {
            if *approvers == 0 || *approvers > MAX_APPROVERS {
                return Err(at(format!("approvers between 1 and {MAX_APPROVERS}")));
            }
        }
        Action::Notify { webhook, text } => {
            if webhook.trim().is_empty() || text.trim().is_empty() {
                return Err(at("notify needs a webhook and a text".to_owned()));
            }
        }
        Action::Manual { .. } | Action::Kube(_) | Action::Verify { .. } => {}
    }
    for value in values(&step.action) {
        for name in placeholders(value).map_err(&at)? {
            let known =
                runbook.meta.parameters.contains_key(name) || CONTEXT_VARIABLES.contains(&name);
            if !known {
                return Err(at(format!(
                    "{{{{ {name} }}}} is neither a parameter in the front matter nor one of {}",
                    CONTEXT_VARIABLES.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// One statement that reads.
pub fn read_only_statement(query: &str) -> Result<(), String> {
    let trimmed = query.trim().trim_end_matches(';').trim();
    if trimmed.is_empty() {
        return Err("the query is empty".to_owned());
    }
    if trimmed.contains(';') {
        return Err("one statement per sql step".to_owned());
    }
    let first = trimmed
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !READ_KEYWORDS.contains(&first.as_str()) {
        return Err(format!(
            "sql steps only read: {first:?} is not one of {}",
            READ_KEYWORDS.join(", ")
        ));
    }
    Ok(())
}

/// The strings of an action that may hold placeholders.
fn values(action: &Action) -> Vec<&str> {
    match action {
        Action::Manual { checklist } => checklist.iter().map(String::as_str).collect(),
        Action::Http { url, .. } => vec![url],
        Action::Sql { query, .. } => vec![query],
        Action::Kube(kube) => kube.values(),
        Action::Verify { monitor } => vec![monitor],
        Action::Approval { .. } => vec![],
        Action::Notify { webhook, text } => vec![webhook, text],
    }
}

/// The names inside `{{ … }}`.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        let name = after[..close].trim();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if !valid {
            return Err(format!(
                "placeholder {{{{{}}}}} is not a name",
                &after[..close]
            ));
        }
        names.push(name);
        rest = &after[close + 2..];
    }
    Ok(names)
}

/// A `sql` step's query with each `{{ name }}` turned into a bind parameter (`$1`, `$2`, … in
/// order of first use) and the names to bind, so a value never becomes SQL text.
pub fn bind_placeholders(query: &str) -> Result<(String, Vec<String>), String> {
    let mut sql = String::with_capacity(query.len());
    let mut names: Vec<String> = Vec::new();
    let mut rest = query;
    while let Some(open) = rest.find("{{") {
        sql.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {query:?}"))?;
        let name = after[..close].trim().to_owned();
        let index = match names.iter().position(|n| *n == name) {
            Some(i) => i + 1,
            None => {
                names.push(name);
                names.len()
            }
        };
        sql.push('$');
        sql.push_str(&index.to_string());
        rest = &after[close + 2..];
    }
    sql.push_str(rest);
    Ok((sql, names))
}
