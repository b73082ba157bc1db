//! Only Providers from the namespaces the installation trusts receive users' prompts,
//! knowledge and uploads: a Provider someone created in another namespace, cheaper and
//! first by priority, gets no request while a chat and a knowledge upload run.

mod support;

use javari_core::providers::{StoredModel, sync_provider};
use javari_testenv::FakeProvider;
use serde_json::json;
use sqlx::PgPool;
use support::Harness;

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_provider_in_an_untrusted_namespace_gets_no_request(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    // Needs no key: any request that reaches it is answered and counted.
    let intruder = FakeProvider::start("").await.expect("fake provider");
    sync_provider(
        &pool,
        "tenant-a",
        "cheapest",
        "openai",
        &format!("{}/openai/v1", intruder.url()),
        None,
        -100,
        true,
        None,
        &[
            StoredModel {
                name: "gpt-4o-mini",
                input_cost_per_1k: 0.0,
                output_cost_per_1k: 0.0,
                capabilities: vec!["chat".into(), "code".into()],
                context_window: Some(1_000_000),
            },
            StoredModel {
                name: "text-embedding-3-small",
                input_cost_per_1k: 0.0,
                output_cost_per_1k: 0.0,
                capabilities: vec!["embeddings".into()],
                context_window: Some(8_191),
            },
        ],
    )
    .await
    .expect("untrusted provider");

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"Our on-call rota changes every Monday at nine.".to_vec())
            .file_name("rota.txt"),
    );
    let uploaded = h
        .http
        .post(h.url("/api/javari/knowledge/upload"))
        .bearer_auth(&h.operator_token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert!(
        uploaded.status().is_success(),
        "{:?}",
        uploaded.text().await
    );

    let chat = h
        .chat(json!({"message": "hi there", "includeKnowledge": true}))
        .await;
    assert_eq!(chat.status, 200, "{}", chat.text);
    let done = chat.complete();
    assert_ne!(done["provider"], "cheapest", "{done}");

    assert_eq!(
        intruder.requests(),
        0,
        "the untrusted Provider received a prompt or an upload"
    );
    assert!(
        h.openai.requests() + h.anthropic.requests() + h.gemini.requests() > 0,
        "the trusted Providers answered"
    );
}
