//! Runbooks as code: `runbooks/*.md` parsed into typed steps (manual, http, sql, kube,
//! verify, approval, notify), validated when loaded, and matched to incidents by trigger.

mod catalogue;
mod kube;
mod model;
mod parse;
mod run;
mod service;
mod sql;
mod steps;
mod validate;

pub use catalogue::{Catalogue, CatalogueError, Source};
pub use kube::{DEFAULT_PROJECT_URL, KubeExecutor, MAX_REPLICAS};
pub use model::{
    Action, CONTEXT_VARIABLES, DEFAULT_BACKOFF, FrontMatter, HttpMethod, KubeAction, MAX_BACKOFF,
    OnFailure, Parameter, Runbook, Step, StepKind, Triggers,
};
pub use parse::{RunbookError, STEP_FENCE, parse};
pub use run::{Planned, RunError, RunRow, Runner, StepRunRow, preview, runs_of};
pub use service::{MAX_NOTIFICATIONS_IN_FLIGHT, Playbooks};
pub use sql::{SqlStepError, Table, run_read_only};
pub use steps::{OUTPUT_LIMIT, StepExecutor, Values, redact, render, rendered};
pub use validate::{
    MAX_APPROVERS, MAX_AUTOMATED_TIMEOUT, MAX_PERSON_TIMEOUT, MAX_RETRIES, MAX_ROW_LIMIT,
    MAX_STEPS, bind_placeholders, placeholders, read_only_statement, validate,
};

/// Parses and validates one runbook.
pub fn load(text: &str) -> Result<Runbook, RunbookError> {
    let runbook = parse(text)?;
    validate(&runbook)?;
    Ok(runbook)
}

#[cfg(test)]
mod tests;
