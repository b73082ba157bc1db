//! A runbook as code: front matter, then steps of typed kinds, each with a timeout, retries
//! and what to do when it fails.

use std::collections::BTreeMap;
use std::time::Duration;

use javari_crds::common::Severity;
use serde::{Deserialize, Serialize};

/// One parsed `runbooks/*.md` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Runbook {
    pub meta: FrontMatter,
    /// The prose between the title and the first step.
    pub summary: String,
    pub steps: Vec<Step>,
}

/// The YAML between the leading `---` lines.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    /// The file name without `.md`; what Monitors and incidents reference.
    pub id: String,
    pub title: String,
    /// Severities the playbook is written for.
    pub severities: Vec<Severity>,
    #[serde(default)]
    pub triggers: Triggers,
    /// Inputs a run asks for (or takes from the incident), referenced as `{{ name }}`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
}

/// What a runbook applies to: an incident raised by one of these suggests it. Names may be
/// `*` (any) or end with `*` (a prefix).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub monitors: Vec<String>,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub providers: Vec<String>,
    #[serde(default)]
    pub credentials: Vec<String>,
    #[serde(default)]
    pub backups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub description: String,
    #[serde(default)]
    pub default: Option<String>,
}

/// One `## N. Title` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based position, as numbered in the heading.
    pub number: usize,
    pub title: String,
    /// The section's prose (instructions for a person, shown beside the step).
    pub instructions: String,
    pub action: Action,
    pub timeout: Duration,
    pub retries: u32,
    /// Wait before the first retry; each later retry waits twice the one before.
    pub backoff: Duration,
    pub on_failure: OnFailure,
    /// Line of the heading in the file, for error messages.
    pub line: usize,
}

/// The wait before a first retry when a step names none.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// No wait between two attempts is longer than this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Step {
    /// The wait before attempt `attempt` (1-based) of this run of the step: none before the
    /// first, then `backoff`, doubling, capped at [`MAX_BACKOFF`].
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let doublings = (attempt - 2).min(16);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF)
    }

    /// Steps that change something ask for confirmation before they run.
    pub fn changes_something(&self) -> bool {
        match &self.action {
            Action::Kube(_) | Action::Notify { .. } => true,
            Action::Http { method, .. } => !matches!(method, HttpMethod::Get | HttpMethod::Head),
            Action::Manual { .. } | Action::Sql { .. } | Action::Verify { .. } => false,
            Action::Approval { .. } => false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// The run stops at this step; it can be retried and resumed from here.
    #[default]
    Stop,
    /// The failure is recorded and the run goes on.
    Continue,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
    Put,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A person does it and ticks it off.
    Manual { checklist: Vec<String> },
    /// A request whose status must be `expect_status`.
    Http {
        method: HttpMethod,
        url: String,
        expect_status: u16,
    },
    /// A query in a READ ONLY transaction with a statement timeout; at most `row_limit` rows.
    Sql { query: String, row_limit: u32 },
    /// An allow-listed change through the Kubernetes API.
    Kube(KubeAction),
    /// A Monitor's conditions, evaluated now, must hold.
    Verify { monitor: String },
    /// Another person with the operator role approves before the next step.
    Approval { approvers: u32 },
    /// A Slack-compatible webhook.
    Notify { webhook: String, text: String },
}

/// The changes a `kube` step may make; nothing else reaches the API.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KubeAction {
    /// Back to the Project's last known good image (the `javari.ai/rollback` annotation).
    RollbackProject {
        project: String,
    },
    /// A rollout restart of a Deployment.
    RestartDeployment {
        deployment: String,
    },
    ScaleDeployment {
        deployment: String,
        replicas: String,
    },
    /// A new Credential version now (the `javari.ai/rotate-now` annotation).
    RotateCredential {
        credential: String,
    },
    SuspendMonitor {
        monitor: String,
    },
    ResumeMonitor {
        monitor: String,
    },
    /// Marks a Provider down so chat routes around it.
    FailoverProvider {
        provider: String,
    },
}

impl KubeAction {
    /// The values of its parameters, for placeholder checks.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::RollbackProject { project } => vec![project],
            Self::RestartDeployment { deployment } => vec![deployment],
            Self::ScaleDeployment {
                deployment,
                replicas,
            } => vec![deployment, replicas],
            Self::RotateCredential { credential } => vec![credential],
            Self::SuspendMonitor { monitor } | Self::ResumeMonitor { monitor } => vec![monitor],
            Self::FailoverProvider { provider } => vec![provider],
        }
    }
}

/// Kind of a step, as written in its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Manual,
    Http,
    Sql,
    Kube,
    Verify,
    Approval,
    Notify,
}

impl StepKind {
    /// Used when a step gives no `timeout`.
    pub fn default_timeout(self) -> Duration {
        match self {
            Self::Manual | Self::Approval => Duration::from_secs(30 * 60),
            Self::Http | Self::Verify | Self::Notify => Duration::from_secs(30),
            Self::Sql => Duration::from_secs(10),
            Self::Kube => Duration::from_secs(120),
        }
    }
}

/// Names every run knows without declaring them: taken from the incident (or given when the
/// runbook runs for maintenance).
pub const CONTEXT_VARIABLES: &[&str] = &[
    "namespace",
    "incident.id",
    "incident.title",
    "incident.severity",
];
