//! One HTTP check: the request the Monitor describes, timed, with the body kept for `[BODY]`
//! conditions and the peer certificate's expiry for `[CERTIFICATE_EXPIRATION]`.

use std::time::{Duration, Instant};

use javari_core::monitors::CheckResult;
use javari_crds::monitor::{CheckRequest, HttpMethod};

/// Bodies beyond this are cut before evaluation: the rest is never read.
pub const MAX_BODY: usize = 256 * 1024;

/// The check clients: both report the peer certificate; one skips verification.
#[derive(Clone)]
pub struct Clients {
    verifying: reqwest::Client,
    insecure: reqwest::Client,
}

impl Clients {
    pub fn new() -> Self {
        javari_core::http::install_crypto_provider();
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("javari-monitor/", env!("CARGO_PKG_VERSION")))
                .tls_info(true)
                .tls_danger_accept_invalid_certs(insecure)
                .build()
                .unwrap_or_default()
        };
        Self {
            verifying: build(false),
            insecure: build(true),
        }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Self::new()
    }
}

/// Time left until the peer certificate's notAfter.
fn certificate_expires_in(response: &reqwest::Response) -> Option<Duration> {
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let left = cert.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

/// The first `cap` bytes of the body, read as they arrive; the connection is dropped at the
/// cap, so an endless or huge body costs `cap`, not its size. `None` when the body fails
/// before anything arrived.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= cap {
                    return Some(body);
                }
            }
            Ok(None) => return Some(body),
            Err(_) if body.is_empty() => return None,
            Err(_) => return Some(body),
        }
    }
}

pub async fn run_check(
    clients: &Clients,
    url: &str,
    request: &CheckRequest,
    timeout: Duration,
) -> CheckResult {
    let http = if request.insecure_skip_verify {
        &clients.insecure
    } else {
        &clients.verifying
    };
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
            let certificate_expires_in = certificate_expires_in(&response);
            let body = read_capped(response, MAX_BODY)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            CheckResult {
                status: Some(status),
                response_time: started.elapsed(),
                body,
                certificate_expires_in,
                error: None,
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
