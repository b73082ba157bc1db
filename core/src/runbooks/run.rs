//! Runs of a runbook, step by step, recorded in `javari_runbook_runs` /
//! `javari_runbook_step_runs` and on the incident's timeline:
//!
//! - a step that changes something runs only when the caller confirms it (the preview shows
//!   what it would do);
//! - an approval step waits until other people (never the one who started the run) approve,
//!   within its timeout;
//! - each attempt is recorded with its input, redacted output, actor and duration; a failed
//!   step stops the run (unless `on_failure: continue`) and the run resumes there;
//! - one person advances a run at a time (its row is locked while a step runs).

use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::model::{Action, OnFailure, Runbook, Step};
use super::steps::{StepExecutor, Values, execute, redact, rendered};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no runbook {0:?}")]
    UnknownRunbook(String),
    #[error("no run {0}")]
    NotFound(Uuid),
    #[error("parameter {0:?} is required")]
    MissingParameter(String),
    #[error("{0:?} is not a parameter of this runbook")]
    UnknownParameter(String),
    #[error("step {step} ({title}) changes something: confirm it to run it")]
    NeedsConfirmation { step: usize, title: String },
    #[error("step {0} waits for an approval")]
    AwaitingApproval(usize),
    #[error("the run is {0}")]
    Finished(String),
    #[error("someone else is running a step of this run; try again when it ends")]
    Busy,
    #[error("the run's starter cannot approve it")]
    SelfApproval,
    #[error("{0} already approved this step")]
    AlreadyApproved(String),
    #[error("the run is not waiting for an approval")]
    NotAwaitingApproval,
    #[error("{0}")]
    Step(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A run's state as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    pub id: Uuid,
    pub runbook_id: String,
    pub incident_id: Option<Uuid>,
    pub namespace: String,
    pub started_by: String,
    pub status: String,
    pub current_step: i32,
    /// Last change; an approval is due within its step's timeout from here.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The run row by id, with `$lock` appended (`""`, `" FOR UPDATE"`, …).
macro_rules! select_run {
    ($lock:literal) => {
        concat!(
            "SELECT id, runbook_id, incident_id, namespace, started_by, status, current_step, \
             updated_at FROM javari_runbook_runs WHERE id = $1",
            $lock
        )
    };
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRunRow {
    pub step_number: i32,
    pub attempt: i32,
    pub status: String,
    pub actor: String,
    pub output: String,
    pub duration_ms: i32,
}

/// One step of the dry-run preview.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    pub number: usize,
    pub title: String,
    /// What it will do, placeholders filled.
    pub does: String,
    pub needs_confirmation: bool,
}

/// The values a run fills placeholders with: its parameters and context.
fn values_of(parameters: &Values, namespace: &str, incident: Option<Uuid>) -> Values {
    let mut values = parameters.clone();
    values.insert("namespace".into(), namespace.to_owned());
    if let Some(id) = incident {
        values.insert("incident.id".into(), id.to_string());
    }
    values
}

/// What each step would do: nothing runs.
pub fn preview(runbook: &Runbook, values: &Values) -> Result<Vec<Planned>, RunError> {
    runbook
        .steps
        .iter()
        .map(|s| {
            Ok(Planned {
                number: s.number,
                title: s.title.clone(),
                does: describe(&rendered(&s.action, values).map_err(RunError::Step)?),
                needs_confirmation: s.changes_something(),
            })
        })
        .collect()
}

fn describe(action: &Action) -> String {
    match action {
        Action::Manual { checklist } if checklist.is_empty() => "a person does it".to_owned(),
        Action::Manual { checklist } => format!("a person checks: {}", checklist.join("; ")),
        Action::Http {
            method,
            url,
            expect_status,
        } => {
            format!("{method:?} {url}, expecting {expect_status}")
        }
        Action::Sql { query, row_limit } => {
            format!(
                "read at most {row_limit} rows: {}",
                query.lines().next().unwrap_or("")
            )
        }
        Action::Kube(k) => format!("{k:?}"),
        Action::Verify { monitor } => format!("check Monitor {monitor} now"),
        Action::Approval { approvers } => format!("{approvers} other operator(s) approve"),
        Action::Notify { webhook, text } => format!("post {text:?} to {webhook}"),
    }
}

pub struct Runner<'a, E: StepExecutor> {
    pub pool: &'a PgPool,
    pub catalogue: &'a Catalogue,
    pub http: &'a reqwest::Client,
    pub executor: &'a E,
}

impl<E: StepExecutor> Runner<'_, E> {
    fn runbook(&self, id: &str) -> Result<&Runbook, RunError> {
        self.catalogue
            .get(id)
            .ok_or_else(|| RunError::UnknownRunbook(id.to_owned()))
    }

    /// Starts a run (for an incident, or on its own for maintenance).
    pub async fn start(
        &self,
        runbook_id: &str,
        incident: Option<Uuid>,
        namespace: &str,
        parameters: Values,
        actor: &str,
    ) -> Result<Uuid, RunError> {
        let runbook = self.runbook(runbook_id)?;
        for name in parameters.keys() {
            if !runbook.meta.parameters.contains_key(name) {
                return Err(RunError::UnknownParameter(name.clone()));
            }
        }
        let mut parameters = parameters;
        for (name, p) in &runbook.meta.parameters {
            if !parameters.contains_key(name) {
                let value = p
                    .default
                    .clone()
                    .ok_or_else(|| RunError::MissingParameter(name.clone()))?;
                parameters.insert(name.clone(), value);
            }
        }
        let json = serde_json::to_value(&parameters).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO javari_runbook_runs (runbook_id, incident_id, namespace, parameters, started_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(runbook_id)
        .bind(incident)
        .bind(namespace)
        .bind(json)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(incident) = incident {
            let message = format!("runbook {runbook_id} started");
            timeline(&mut tx, incident, "runbook_started", &message, actor).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn get(&self, id: Uuid) -> Result<(RunRow, Vec<StepRunRow>), RunError> {
        let run = sqlx::query_as::<_, RunRow>(select_run!(""))
            .bind(id)
            .fetch_optional(self.pool)
            .await?
            .ok_or(RunError::NotFound(id))?;
        let steps = sqlx::query_as::<_, StepRunRow>(
            "SELECT step_number, attempt, status, actor, output, duration_ms \
             FROM javari_runbook_step_runs WHERE run_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool)
        .await?;
        Ok((run, steps))
    }

    /// The values the run's placeholders take.
    async fn values(&self, id: Uuid, run: &RunRow) -> Result<Values, RunError> {
        let json: serde_json::Value =
            sqlx::query_scalar("SELECT parameters FROM javari_runbook_runs WHERE id = $1")
                .bind(id)
                .fetch_one(self.pool)
                .await?;
        let parameters: Values = serde_json::from_value(json).unwrap_or_default();
        let mut values = values_of(&parameters, &run.namespace, run.incident_id);
        if let Some(incident) = run.incident_id {
            let found: Option<(String, String)> =
                sqlx::query_as("SELECT title, severity FROM javari_incidents WHERE id = $1")
                    .bind(incident)
                    .fetch_optional(self.pool)
                    .await?;
            if let Some((title, severity)) = found {
                values.insert("incident.title".into(), title);
                values.insert("incident.severity".into(), severity);
            }
        }
        Ok(values)
    }

    /// Runs the current step (a failed run retries its failed step). `confirmed` must be true
    /// for a step that changes something.
    pub async fn advance(
        &self,
        id: Uuid,
        actor: &str,
        confirmed: bool,
    ) -> Result<RunRow, RunError> {
        let mut tx = self.pool.begin().await?;
        let run = sqlx::query_as::<_, RunRow>(select_run!(" FOR UPDATE NOWAIT"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("55P03") => RunError::Busy,
                _ => RunError::Database(e),
            })?
            .ok_or(RunError::NotFound(id))?;
        let outcome = self.run_current_step(&mut tx, &run, actor, confirmed).await;
        // Roll back at once on a refusal: a dropped transaction would keep the row locked
        // until its connection is used again, and the next click would find the run busy.
        match outcome {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        }
        self.get(id).await.map(|(r, _)| r)
    }

    async fn run_current_step(
        &self,
        tx: &mut sqlx::PgConnection,
        run: &RunRow,
        actor: &str,
        confirmed: bool,
    ) -> Result<(), RunError> {
        let id = run.id;
        match run.status.as_str() {
            "running" | "failed" => {}
            "awaiting_approval" => {
                return Err(RunError::AwaitingApproval(run.current_step as usize));
            }
            other => return Err(RunError::Finished(other.to_owned())),
        }
        let runbook = self.runbook(&run.runbook_id)?;
        let step = step_at(runbook, run.current_step)?;
        if step.changes_something() && !confirmed {
            return Err(RunError::NeedsConfirmation {
                step: step.number,
                title: step.title.clone(),
            });
        }
        let values = self.values(id, run).await?;
        let action = rendered(&step.action, &values).map_err(RunError::Step)?;
        let input = serde_json::to_value(describe(&action)).unwrap_or_default();

        if let Action::Approval { .. } = action {
            sqlx::query(
                "UPDATE javari_runbook_runs SET status = 'awaiting_approval' WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(incident) = run.incident_id {
                let message = format!(
                    "{} step {} {}: waiting for approval",
                    run.runbook_id, step.number, step.title
                );
                timeline(tx, incident, "runbook_step", &message, actor).await?;
            }
            return Ok(());
        }

        let previous: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM javari_runbook_step_runs WHERE run_id = $1 AND step_number = $2",
        )
        .bind(id)
        .bind(run.current_step)
        .fetch_one(&mut *tx)
        .await?;
        let mut attempt = previous as i32;
        let mut outcome = Err(String::new());
        for try_number in 1..=step.retries + 1 {
            tokio::time::sleep(step.delay_before(try_number)).await;
            attempt += 1;
            let started = Instant::now();
            outcome = match action {
                Action::Manual { .. } => Ok(format!("done by {actor}")),
                _ => match tokio::time::timeout(
                    step.timeout,
                    execute(
                        &action,
                        &values,
                        step.timeout,
                        self.pool,
                        self.http,
                        self.executor,
                        actor,
                    ),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => Err(format!("timed out after {:?}", step.timeout)),
                },
            };
            let (status, text) = match &outcome {
                Ok(out) => ("succeeded", redact(out)),
                Err(err) => ("failed", redact(err)),
            };
            sqlx::query(
                "INSERT INTO javari_runbook_step_runs (run_id, step_number, attempt, status, actor, input, output, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(run.current_step)
            .bind(attempt)
            .bind(status)
            .bind(actor)
            .bind(&input)
            .bind(&text)
            .bind(i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;
            if let Some(incident) = run.incident_id {
                let message = format!(
                    "{} step {} {}: {status} (attempt {attempt}, {} ms) {text}",
                    run.runbook_id,
                    step.number,
                    step.title,
                    started.elapsed().as_millis()
                );
                timeline(tx, incident, "runbook_step", &message, actor).await?;
            }
            if outcome.is_ok() {
                break;
            }
        }
        let last = runbook.steps.len() as i32;
        let (status, next) = match (&outcome, step.on_failure) {
            (Ok(_), _) | (Err(_), OnFailure::Continue) => {
                let next = run.current_step + 1;
                (if next > last { "succeeded" } else { "running" }, next)
            }
            (Err(_), OnFailure::Stop) => ("failed", run.current_step),
        };
        sqlx::query("UPDATE javari_runbook_runs SET status = $2, current_step = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Records an approval by someone other than the run's starter; enough approvals within the
    /// step's timeout move the run on, a late one fails the step.
    pub async fn approve(&self, id: Uuid, approver: &str) -> Result<RunRow, RunError> {
        let mut tx = self.pool.begin().await?;
        match self.approve_locked(&mut tx, id, approver).await {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        }
        self.get(id).await.map(|(r, _)| r)
    }

    async fn approve_locked(
        &self,
        tx: &mut sqlx::PgConnection,
        id: Uuid,
        approver: &str,
    ) -> Result<(), RunError> {
        let run = sqlx::query_as::<_, RunRow>(select_run!(" FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(RunError::NotFound(id))?;
        let waiting_since = run.updated_at;
        if run.status != "awaiting_approval" {
            return Err(RunError::NotAwaitingApproval);
        }
        if run.started_by == approver {
            return Err(RunError::SelfApproval);
        }
        let runbook = self.runbook(&run.runbook_id)?;
        let step = step_at(runbook, run.current_step)?;
        let Action::Approval { approvers } = step.action else {
            return Err(RunError::NotAwaitingApproval);
        };
        let approved: Vec<String> = sqlx::query_scalar(
            "SELECT actor FROM javari_runbook_step_runs WHERE run_id = $1 AND step_number = $2 AND status = 'approved'",
        )
        .bind(id)
        .bind(run.current_step)
        .fetch_all(&mut *tx)
        .await?;
        if approved.iter().any(|a| a == approver) {
            return Err(RunError::AlreadyApproved(approver.to_owned()));
        }
        let late = chrono::Utc::now() - waiting_since
            > chrono::TimeDelta::from_std(step.timeout).unwrap_or(chrono::TimeDelta::MAX);
        let (row_status, output) = if late {
            (
                "failed",
                format!(
                    "approval by {approver} came after the {:?} timeout",
                    step.timeout
                ),
            )
        } else {
            ("approved", format!("approved by {approver}"))
        };
        sqlx::query(
            "INSERT INTO javari_runbook_step_runs (run_id, step_number, attempt, status, actor, output) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(run.current_step)
        .bind(approved.len() as i32 + 1)
        .bind(row_status)
        .bind(approver)
        .bind(&output)
        .execute(&mut *tx)
        .await?;
        let (status, next) = if late {
            ("failed", run.current_step)
        } else if approved.len() as u32 + 1 >= approvers {
            let next = run.current_step + 1;
            (
                if next > runbook.steps.len() as i32 {
                    "succeeded"
                } else {
                    "running"
                },
                next,
            )
        } else {
            ("awaiting_approval", run.current_step)
        };
        sqlx::query("UPDATE javari_runbook_runs SET status = $2, current_step = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        if let Some(incident) = run.incident_id {
            let message = format!(
                "{} step {} {}: {output}",
                run.runbook_id, step.number, step.title
            );
            timeline(tx, incident, "runbook_step", &message, approver).await?;
        }
        Ok(())
    }

    pub async fn cancel(&self, id: Uuid, actor: &str) -> Result<(), RunError> {
        let done = sqlx::query(
            "UPDATE javari_runbook_runs SET status = 'cancelled' \
             WHERE id = $1 AND status IN ('running', 'failed', 'awaiting_approval') RETURNING incident_id",
        )
        .bind(id)
        .fetch_optional(self.pool)
        .await?;
        if done.is_none() {
            return Err(RunError::Finished("not cancellable".to_owned()));
        }
        let (run, _) = self.get(id).await?;
        if let Some(incident) = run.incident_id {
            let mut conn = self.pool.acquire().await?;
            let message = format!("runbook {} cancelled", run.runbook_id);
            timeline(&mut conn, incident, "runbook_cancelled", &message, actor).await?;
        }
        Ok(())
    }
}

/// The runs of an incident, oldest first.
pub async fn runs_of(pool: &PgPool, incident: Uuid) -> Result<Vec<RunRow>, RunError> {
    Ok(sqlx::query_as::<_, RunRow>(
        "SELECT id, runbook_id, incident_id, namespace, started_by, status, current_step, \
         updated_at FROM javari_runbook_runs WHERE incident_id = $1 ORDER BY created_at, id LIMIT 100",
    )
    .bind(incident)
    .fetch_all(pool)
    .await?)
}

fn step_at(runbook: &Runbook, current: i32) -> Result<&Step, RunError> {
    usize::try_from(current - 1)
        .ok()
        .and_then(|i| runbook.steps.get(i))
        .ok_or_else(|| RunError::Finished("past its last step".to_owned()))
}

async fn timeline(
    conn: &mut sqlx::PgConnection,
    incident: Uuid,
    kind: &str,
    message: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO javari_incident_events (incident_id, kind, message, actor) VALUES ($1, $2, $3, $4)",
    )
    .bind(incident)
    .bind(kind)
    .bind(message)
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(())
}
