//! Requests that carry a Provider's key never follow a redirect, and what a provider sends
//! back in an error is trimmed before Javari repeats it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use javari_core::chat::{Gateway, GatewayConfig, ModelInfo, OpenError, ProviderEntry, embed};
use javari_core::providers::probe;
use javari_core::vault::SecretValue;
use javari_crds::provider::{ProviderApi, ProviderHealth};
use javari_testenv::FakeProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "sk-redirect-0123456789";

/// An HTTP server answering every request with `response`; counts the requests.
async fn answering(response: String) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, count)
}

fn entry(endpoint: &str) -> ProviderEntry {
    ProviderEntry {
        id: uuid::Uuid::new_v4(),
        namespace: "ai".into(),
        name: "redirecting".into(),
        api: ProviderApi::Openai,
        endpoint: endpoint.to_owned(),
        api_key: Some(Arc::new(SecretValue::from(KEY.to_owned()))),
        priority: 1,
        health: javari_crds::provider::ProviderHealth::Unknown,
        rate_limit_rpm: None,
        models: vec![ModelInfo {
            name: "text-embedding-3-small".into(),
            input_cost_per_1k: 0.0,
            output_cost_per_1k: 0.0,
            capabilities: vec![javari_crds::provider::Capability::Embeddings],
            context_window: Some(8_191),
        }],
    }
}

#[tokio::test]
async fn probes_and_embeddings_do_not_follow_redirects() {
    javari_core::http::install_crypto_provider();
    // The fake accepts the key: a followed redirect would be answered and counted.
    let target = FakeProvider::start(KEY).await.expect("fake provider");
    let (redirector, hits) = answering(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}/openai/v1/models\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.url()
    ))
    .await;

    let outcome = probe(
        &javari_core::http::client(),
        ProviderApi::Openai,
        &format!("{redirector}/v1"),
        Some(&SecretValue::from(KEY.to_owned())),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(outcome.health, ProviderHealth::Down, "{outcome:?}");
    assert_eq!(outcome.error.as_deref(), Some("HTTP 307"));

    let gateway = Gateway::new(GatewayConfig::default());
    let result = embed(
        gateway.http(),
        &entry(&format!("{redirector}/v1")),
        "text-embedding-3-small",
        &["hello".to_owned()],
    )
    .await;
    assert!(
        matches!(result, Err(OpenError::Status { status: 307, .. })),
        "{result:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(target.requests(), 0, "the key must not follow a redirect");
}

#[tokio::test]
async fn upstream_error_text_is_trimmed() {
    javari_core::http::install_crypto_provider();
    let noisy = format!(
        "{{\"error\": {{\"message\": \"bad\\n\\u001b[31mthing\\r\\n{}\"}}}}",
        "x".repeat(5_000)
    );
    let (url, _) = answering(format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{noisy}",
        noisy.len()
    ))
    .await;
    let gateway = Gateway::new(GatewayConfig::default());
    let result = embed(
        gateway.http(),
        &entry(&format!("{url}/v1")),
        "text-embedding-3-small",
        &["hello".to_owned()],
    )
    .await;
    let Err(OpenError::Status {
        status: 400,
        message,
        ..
    }) = result
    else {
        panic!("{result:?}");
    };
    assert!(message.starts_with("bad [31mthing xxx"), "{message}");
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(message.chars().count() <= 201, "{}", message.len());
}
