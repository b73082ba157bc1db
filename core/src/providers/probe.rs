//! The cheapest authenticated call each API offers (list models), and what its answer says
//! about the provider's health.

use std::time::{Duration, Instant};

use javari_crds::provider::{ProviderApi, ProviderHealth};

use crate::vault::SecretValue;

/// A probe answering slower than this makes the provider Degraded.
pub const SLOW: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub health: ProviderHealth,
    pub latency_ms: Option<i64>,
    /// Why it is not Operational; never contains the key.
    pub error: Option<String>,
}

/// The probe request for `api` at `endpoint` (the Provider's base URL).
pub fn probe_request(
    http: &reqwest::Client,
    api: ProviderApi,
    endpoint: &str,
    key: Option<&SecretValue>,
) -> reqwest::RequestBuilder {
    let base = endpoint.trim_end_matches('/');
    let key = key.map(|k| String::from_utf8_lossy(k.expose()).into_owned());
    match api {
        ProviderApi::Openai | ProviderApi::OpenaiCompatible => {
            let request = http.get(format!("{base}/models"));
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        }
        ProviderApi::Anthropic => http
            .get(format!("{base}/v1/models"))
            .header("x-api-key", key.unwrap_or_default())
            .header("anthropic-version", "2023-06-01"),
        // The key goes in a header, not the query string, so it never lands in access logs.
        ProviderApi::Gemini => http
            .get(format!("{base}/models"))
            .header("x-goog-api-key", key.unwrap_or_default()),
    }
}

/// Sends the probe and classifies the answer.
pub async fn probe(
    http: &reqwest::Client,
    api: ProviderApi,
    endpoint: &str,
    key: Option<&SecretValue>,
    timeout: Duration,
) -> ProbeOutcome {
    let started = Instant::now();
    let answer = probe_request(http, api, endpoint, key)
        .timeout(timeout)
        .send()
        .await;
    let latency = started.elapsed();
    match answer {
        Ok(response) => classify(Some(response.status().as_u16()), latency, None),
        Err(e) if e.is_timeout() => classify(
            None,
            latency,
            Some(format!("no answer within {}s", timeout.as_secs())),
        ),
        Err(e) if e.is_connect() => classify(
            None,
            latency,
            Some("connection refused or unreachable".to_owned()),
        ),
        Err(_) => classify(None, latency, Some("request failed".to_owned())),
    }
}

/// Health from an HTTP status (or a transport failure) and the latency.
pub fn classify(
    status: Option<u16>,
    latency: Duration,
    transport_error: Option<String>,
) -> ProbeOutcome {
    let latency_ms = Some(i64::try_from(latency.as_millis()).unwrap_or(i64::MAX));
    let (health, error) = match status {
        None => (
            ProviderHealth::Down,
            transport_error.or(Some("no answer".to_owned())),
        ),
        Some(200..=299) if latency > SLOW => (
            ProviderHealth::Degraded,
            Some(format!("slow: {} ms", latency.as_millis())),
        ),
        Some(200..=299) => (ProviderHealth::Operational, None),
        Some(429) => (
            ProviderHealth::Degraded,
            Some("rate limited (HTTP 429)".to_owned()),
        ),
        Some(401 | 403) => (
            ProviderHealth::Down,
            Some(format!(
                "credential refused (HTTP {})",
                status.unwrap_or_default()
            )),
        ),
        Some(code) => (ProviderHealth::Down, Some(format!("HTTP {code}"))),
    };
    let latency_ms = if status.is_some() { latency_ms } else { None };
    ProbeOutcome {
        health,
        latency_ms,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let fast = Duration::from_millis(40);
        assert_eq!(
            classify(Some(200), fast, None).health,
            ProviderHealth::Operational
        );
        assert_eq!(classify(Some(200), fast, None).latency_ms, Some(40));
        assert_eq!(
            classify(Some(200), Duration::from_secs(3), None).health,
            ProviderHealth::Degraded
        );
        assert_eq!(
            classify(Some(429), fast, None).health,
            ProviderHealth::Degraded
        );
        for code in [401, 403, 500, 503] {
            assert_eq!(
                classify(Some(code), fast, None).health,
                ProviderHealth::Down,
                "{code}"
            );
        }
        let refused = classify(None, fast, Some("connection refused or unreachable".into()));
        assert_eq!(
            (refused.health, refused.latency_ms),
            (ProviderHealth::Down, None)
        );
    }

    #[test]
    fn keys_travel_in_headers() {
        let http = crate::http::client();
        let key = SecretValue::from("sk-test".to_owned());
        for api in [
            ProviderApi::Openai,
            ProviderApi::Anthropic,
            ProviderApi::Gemini,
        ] {
            let request = probe_request(&http, api, "http://x/", Some(&key))
                .build()
                .expect("request");
            assert!(
                !request.url().as_str().contains("sk-test"),
                "{api:?}: key in URL"
            );
            assert!(
                request
                    .headers()
                    .values()
                    .any(|v| v.to_str().is_ok_and(|v| v.contains("sk-test"))),
                "{api:?}"
            );
        }
    }
}
