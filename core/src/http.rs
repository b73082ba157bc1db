//! The outbound HTTP client (provider probes, checks, chat, GitHub).

/// Makes ring the process's TLS crypto provider (idempotent). The workspace builds rustls with
/// ring only; reqwest needs the provider installed before its first client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with Javari's user agent that never follows redirects: its requests carry API
/// keys in headers, and a redirect would hand them to wherever the endpoint points (a 3xx is
/// an answer like any other).
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    builder().build().unwrap_or_else(|_| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// What [`client`] is built from, for callers that add timeouts.
pub fn builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("javari/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
}
