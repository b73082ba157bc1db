//! A local stand-in for the GitHub REST API: branch heads, deployments and deployment
//! statuses, with the real paths, token header and JSON shapes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{Error, Result};

/// A deployment status GitHub received: (owner/repo, sha, state).
pub type ReportedStatus = (String, String, String);

#[derive(Default)]
struct Repo {
    head: String,
    deployments: Vec<(u64, String)>,
}

struct Shared {
    token: String,
    repos: Mutex<std::collections::HashMap<String, Repo>>,
    statuses: Mutex<Vec<ReportedStatus>>,
}

pub struct FakeGitHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    pub async fn start(token: &str) -> Result<FakeGitHub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| Error::Io {
                path: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            repos: Mutex::default(),
            statuses: Mutex::default(),
        });
        let app = Router::new()
            .route("/repos/{owner}/{repo}/branches/{branch}", get(branch))
            .route("/repos/{owner}/{repo}/deployments", post(create_deployment))
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                post(create_status),
            )
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeGitHub { addr, shared, task })
    }

    /// Base URL to configure as the GitHub API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Moves `owner/repo`'s branch head to `sha`.
    pub fn set_head(&self, owner_repo: &str, sha: &str) {
        let mut repos = self.shared.repos.lock().unwrap_or_else(|e| e.into_inner());
        repos.entry(owner_repo.to_owned()).or_default().head = sha.to_owned();
    }

    /// Deployment statuses received, in order.
    pub fn statuses(&self) -> Vec<ReportedStatus> {
        self.shared
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or_default();
    token == shared.token
}

fn unauthorized() -> Response {
    let body = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "Not Found", "status": "404"})),
    )
        .into_response()
}

async fn branch(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let repos = s.repos.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = repos.get(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    Json(json!({"name": branch, "protected": false, "commit": {"sha": r.head, "url": format!("/repos/{owner}/{repo}/commits/{}", r.head)}}))
        .into_response()
}

async fn create_deployment(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let sha = body["ref"].as_str().unwrap_or_default().to_owned();
    let mut repos = s.repos.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = repos.get_mut(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    let id = r.deployments.len() as u64 + 1;
    r.deployments.push((id, sha.clone()));
    (StatusCode::CREATED, Json(json!({"id": id, "sha": sha, "ref": sha, "environment": body["environment"], "task": "deploy"}))).into_response()
}

async fn create_status(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let key = format!("{owner}/{repo}");
    let sha = {
        let repos = s.repos.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = repos.get(&key) else {
            return not_found();
        };
        let Some((_, sha)) = r.deployments.iter().find(|(d, _)| *d == id) else {
            return not_found();
        };
        sha.clone()
    };
    let state = body["state"].as_str().unwrap_or_default().to_owned();
    s.statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, sha, state.clone()));
    (
        StatusCode::CREATED,
        Json(json!({"id": id * 100, "state": state})),
    )
        .into_response()
}
