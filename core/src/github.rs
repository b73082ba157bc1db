//! GitHub through octocrab: the head commit of a branch, and deployment statuses once a
//! rollout finishes. The base URL is configurable (GitHub Enterprise, or a test server).

use octocrab::Octocrab;
use serde_json::{Value, json};

use crate::vault::SecretValue;

/// The public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("invalid GitHub API URL {0:?}")]
    Url(String),
    #[error("GitHub {what} for {repo} failed: {message}")]
    Api {
        what: &'static str,
        repo: String,
        message: String,
    },
    #[error("GitHub answered without {0}")]
    Shape(&'static str),
}

fn client(base_url: &str, token: Option<&SecretValue>) -> Result<Octocrab, GitHubError> {
    crate::http::install_crypto_provider();
    let builder = Octocrab::builder()
        .base_uri(base_url)
        .map_err(|_| GitHubError::Url(base_url.to_owned()))?;
    let builder = match token {
        Some(t) => builder.personal_token(String::from_utf8_lossy(t.expose()).into_owned()),
        None => builder,
    };
    builder
        .build()
        .map_err(|_| GitHubError::Url(base_url.to_owned()))
}

fn api_error(what: &'static str, repo: &str, e: octocrab::Error) -> GitHubError {
    let message = match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("{} ({})", source.message, source.status_code)
        }
        _ => "request failed".to_owned(),
    };
    GitHubError::Api {
        what,
        repo: repo.to_owned(),
        message,
    }
}

/// The sha at the head of `branch`.
pub async fn branch_head(
    base_url: &str,
    token: Option<&SecretValue>,
    owner: &str,
    repo: &str,
    branch: &str,
) -> Result<String, GitHubError> {
    let gh = client(base_url, token)?;
    let full = format!("{owner}/{repo}");
    let answer: Value = gh
        .get(
            format!("/repos/{owner}/{repo}/branches/{branch}"),
            None::<&()>,
        )
        .await
        .map_err(|e| api_error("branch lookup", &full, e))?;
    answer["commit"]["sha"]
        .as_str()
        .map(str::to_owned)
        .ok_or(GitHubError::Shape("commit.sha"))
}

/// Creates a deployment of `sha` in `environment` with a final `state` (`success`, `failure`).
pub async fn report_deployment(
    base_url: &str,
    token: Option<&SecretValue>,
    owner: &str,
    repo: &str,
    sha: &str,
    environment: &str,
    state: &str,
) -> Result<(), GitHubError> {
    let gh = client(base_url, token)?;
    let full = format!("{owner}/{repo}");
    let body = json!({"ref": sha, "environment": environment, "auto_merge": false, "required_contexts": [],
                      "description": "deployed by Javari"});
    let deployment: Value = gh
        .post(format!("/repos/{owner}/{repo}/deployments"), Some(&body))
        .await
        .map_err(|e| api_error("deployment", &full, e))?;
    let id = deployment["id"]
        .as_u64()
        .ok_or(GitHubError::Shape("deployment id"))?;
    let _: Value = gh
        .post(
            format!("/repos/{owner}/{repo}/deployments/{id}/statuses"),
            Some(&json!({"state": state})),
        )
        .await
        .map_err(|e| api_error("deployment status", &full, e))?;
    Ok(())
}
