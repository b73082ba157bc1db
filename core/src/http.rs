//! The outbound HTTP client (provider probes, checks, chat, GitHub).

/// Makes ring the process's TLS crypto provider (idempotent). The workspace builds rustls with
/// ring only; reqwest needs the provider installed before its first client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with Javari's user agent.
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("javari/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
