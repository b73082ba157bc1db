//! One HTTP check: the request the Monitor describes, timed, with the body kept for
//! `[BODY]` conditions.

use std::time::{Duration, Instant};

use javari_core::monitors::CheckResult;
use javari_crds::monitor::{CheckRequest, HttpMethod};

/// Bodies beyond this are cut before evaluation.
const MAX_BODY: usize = 256 * 1024;

pub async fn run_check(
    http: &reqwest::Client,
    url: &str,
    request: &CheckRequest,
    timeout: Duration,
) -> CheckResult {
    let method = match request.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
    };
    let mut builder = http.request(method, url).timeout(timeout);
    for (k, v) in &request.headers {
        builder = builder.header(k, v);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let started = Instant::now();
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .ok()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(MAX_BODY)]).into_owned());
            CheckResult {
                status: Some(status),
                response_time: started.elapsed(),
                body,
                ..Default::default()
            }
        }
        Err(e) => {
            let error = if e.is_timeout() {
                format!("no answer within {} ms", timeout.as_millis())
            } else if e.is_connect() {
                "connection refused or unreachable".to_owned()
            } else {
                "request failed".to_owned()
            };
            CheckResult {
                response_time: started.elapsed(),
                error: Some(error),
                ..Default::default()
            }
        }
    }
}
