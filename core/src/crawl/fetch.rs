//! The crawler's HTTP edge: safe address resolution, redirects followed by hand (each hop
//! checked), conditional requests, size and time limits, one request at a time per host.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
};
use reqwest::{Client, StatusCode, Url};

use super::address::{NetworkPolicy, Refusal, check_resolved, origin_of};

/// Limits of every request a crawl makes.
#[derive(Clone, Debug)]
pub struct FetchLimits {
    /// Sent as `User-Agent`; its first word (before `/`) is the robots.txt product token.
    pub user_agent: String,
    /// Largest response body read; a larger one is cut and the page not stored.
    pub max_page_bytes: usize,
    /// Whole request, body included.
    pub page_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
    /// Least time between two requests to one host (a site's `Crawl-delay` may ask for more).
    pub request_interval: Duration,
    /// The most of a site's `Crawl-delay` honoured (a larger one is capped to this).
    pub max_crawl_delay: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            user_agent: format!(
                "javari-crawler/{} (+https://github.com/javari-ai/javari)",
                env!("CARGO_PKG_VERSION")
            ),
            max_page_bytes: crate::knowledge::MAX_UPLOAD_BYTES,
            page_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
            request_interval: Duration::from_secs(1),
            max_crawl_delay: Duration::from_secs(30),
        }
    }
}

impl FetchLimits {
    /// The robots.txt product token: `javari-crawler` for `javari-crawler/0.1 (...)`.
    pub fn product_token(&self) -> &str {
        self.user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or(&self.user_agent)
    }
}

/// ETag and Last-Modified of a stored response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What a fetch got.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the stored copy is current.
    NotModified { url: Url },
    /// 2xx with its body (at most `max_page_bytes`).
    Body {
        /// Where the body came from, after redirects.
        url: Url,
        content_type: Option<String>,
        body: Vec<u8>,
        validators: Validators,
    },
    /// 404 or 410: the page is gone.
    Gone { status: u16 },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {refusal}")]
    Refused { url: String, refusal: Refusal },
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("redirect to {url} refused: {reason}")]
    Redirect { url: String, reason: String },
    #[error("redirect without a valid Location")]
    BadRedirect,
    #[error("HTTP {0}")]
    Status(u16),
    #[error(
        "the page is larger than the {limit}-byte limit: cut after {read} bytes and not stored"
    )]
    TooLarge { limit: usize, read: usize },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Network(String),
}

/// Resolves host names and refuses any that has a non-public address, unless it is the
/// host name of the admin-allowed origin (and the client using it only ever goes there).
/// reqwest connects to exactly the addresses returned, so a second DNS answer cannot
/// differ from the one checked.
struct GuardedResolver {
    private_host: Option<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allow = self.private_host.as_deref() == Some(host.as_str());
        let resolving = async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            check_resolved(&host, &ips, allow)?;
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(Box::new(addrs.into_iter()))
        };
        Box::pin(resolving)
    }
}

/// One origin's turn: held while a request to it is in flight; the time of the last one.
type Gate = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// Requests in flight per origin, process-wide: one at a time, spaced by the interval.
fn host_gates() -> &'static Mutex<HashMap<String, Gate>> {
    static GATES: OnceLock<Mutex<HashMap<String, Gate>>> = OnceLock::new();
    GATES.get_or_init(Mutex::default)
}

fn gate_for(origin: &str) -> Gate {
    let mut gates = host_gates().lock().unwrap_or_else(|e| e.into_inner());
    // Gates of hosts nobody is waiting on are dropped so the map stays small.
    if gates.len() > 1000 {
        gates.retain(|_, g| Arc::strong_count(g) > 1);
    }
    gates.entry(origin.to_owned()).or_default().clone()
}

pub struct Fetcher {
    policy: NetworkPolicy,
    limits: FetchLimits,
    strict: Client,
    /// For the admin-allowed origin only.
    allowed: Option<Client>,
    delays: HashMap<String, Duration>,
    /// Requests sent and body bytes read, for the crawl's counts.
    pub requests: u32,
    pub bytes: u64,
}

fn build_client(limits: &FetchLimits, private_host: Option<String>) -> Result<Client, FetchError> {
    crate::http::install_crypto_provider();
    Client::builder()
        .user_agent(limits.user_agent.clone())
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would connect on the crawler's behalf, past the address checks.
        .no_proxy()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.page_timeout)
        .dns_resolver(GuardedResolver { private_host })
        .build()
        .map_err(|e| FetchError::Network(e.to_string()))
}

impl Fetcher {
    pub fn new(policy: NetworkPolicy, limits: FetchLimits) -> Result<Fetcher, FetchError> {
        let strict = build_client(&limits, None)?;
        let allowed = match policy
            .private_origin
            .as_deref()
            .and_then(|o| Url::parse(o).ok())
        {
            Some(origin) => Some(build_client(
                &limits,
                origin.host_str().map(str::to_ascii_lowercase),
            )?),
            None => None,
        };
        Ok(Fetcher {
            policy,
            limits,
            strict,
            allowed,
            delays: HashMap::new(),
            requests: 0,
            bytes: 0,
        })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// A site's `Crawl-delay` (seconds), capped; applies to later requests to `origin`.
    pub fn set_crawl_delay(&mut self, origin: &str, seconds: f64) {
        let delay = Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.limits.max_crawl_delay)
            .min(self.limits.max_crawl_delay);
        self.delays.insert(origin.to_owned(), delay);
    }

    /// GETs `url` with the stored validators, following redirects whose every hop passes
    /// the network policy and `hop_allowed` (scope and robots.txt, checked by the caller).
    pub async fn fetch(
        &mut self,
        url: &Url,
        validators: &Validators,
        hop_allowed: &(dyn Fn(&Url) -> Result<(), String> + Sync),
    ) -> Result<Fetched, FetchError> {
        let mut current = url.clone();
        for hop in 0..=self.limits.max_redirects {
            if hop > 0 {
                // The network policy first: it is what keeps the crawler off internal
                // addresses, whatever the scope says.
                self.policy
                    .check_url(&current)
                    .map_err(|refusal| FetchError::Redirect {
                        url: current.to_string(),
                        reason: refusal.to_string(),
                    })?;
                if let Err(reason) = hop_allowed(&current) {
                    return Err(FetchError::Redirect {
                        url: current.to_string(),
                        reason,
                    });
                }
            }
            let response = self.request(&current, validators, hop > 0).await?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| current.join(l).ok())
                    .ok_or(FetchError::BadRedirect)?;
                current = next;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified { url: current });
            }
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Ok(Fetched::Gone {
                    status: status.as_u16(),
                });
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let header = |name: reqwest::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = header(CONTENT_TYPE);
            let found = Validators {
                etag: header(ETAG),
                last_modified: header(LAST_MODIFIED),
            };
            let body = self.read_body(response).await?;
            return Ok(Fetched::Body {
                url: current,
                content_type,
                body,
                validators: found,
            });
        }
        Err(FetchError::TooManyRedirects(self.limits.max_redirects))
    }

    async fn request(
        &mut self,
        url: &Url,
        validators: &Validators,
        redirected: bool,
    ) -> Result<reqwest::Response, FetchError> {
        let refused = |refusal| FetchError::Refused {
            url: url.to_string(),
            refusal,
        };
        self.policy.check_url(url).map_err(refused)?;
        let origin = origin_of(url).ok_or_else(|| refused(Refusal::NoHost))?;
        // The allowed client resolves the allowed host to private addresses: use it for the
        // allowed origin only; every other URL (other ports and schemes too) goes strict.
        let client = match &self.allowed {
            Some(client) if self.policy.allows_private(url) => client.clone(),
            _ => self.strict.clone(),
        };
        let gate = gate_for(&origin);
        let mut last = gate.lock().await;
        let interval = self
            .delays
            .get(&origin)
            .copied()
            .unwrap_or_default()
            .max(self.limits.request_interval);
        if let Some(at) = *last {
            tokio::time::sleep_until((at + interval).into()).await;
        }
        let mut request = client.get(url.clone());
        if !redirected {
            if let Some(etag) = &validators.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &validators.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified);
            }
        }
        self.requests += 1;
        let result = request.send().await;
        *last = Some(Instant::now());
        result.map_err(|e| self.request_error(url, e))
    }

    fn request_error(&self, url: &Url, e: reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(refusal) = err.downcast_ref::<Refusal>() {
                return FetchError::Refused {
                    url: url.to_string(),
                    refusal: refusal.clone(),
                };
            }
            source = err.source();
        }
        if e.is_timeout() {
            FetchError::Timeout(self.limits.page_timeout)
        } else {
            FetchError::Network(error_chain(&e))
        }
    }

    async fn read_body(&mut self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let limit = self.limits.max_page_bytes;
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            // Not read at all: dropping the response closes the connection.
            return Err(FetchError::TooLarge { limit, read: 0 });
        }
        let mut body = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(FetchError::Timeout(self.limits.page_timeout));
                }
                Err(e) => return Err(FetchError::Network(error_chain(&e))),
            };
            self.bytes += chunk.len() as u64;
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge {
                    limit,
                    read: body.len() + chunk.len(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An error and its causes on one line (reqwest's own message is only the outermost).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_token_is_the_first_word() {
        let limits = FetchLimits::default();
        assert_eq!(limits.product_token(), "javari-crawler");
        assert!(limits.user_agent.starts_with("javari-crawler/"));
    }
}
