//! Bad input gets a 4xx with a message, and nothing is stored half-way.

mod support;

use serde_json::json;
use sqlx::PgPool;
use support::Harness;

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    (
        status,
        body["error"].as_str().expect("an error message").to_owned(),
    )
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn bad_chat_requests_are_refused_with_a_message(pool: PgPool) {
    let h = Harness::start(pool).await;
    let post = |body: String, content_type: &'static str| {
        h.http
            .post(h.url("/api/javari/chat"))
            .bearer_auth(&h.operator_token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            format!("{{\"message\": \"{}\"}}", "x".repeat(70 * 1024)),
            "application/json",
            413,
            "too large",
        ),
        (
            "{\"message\": \"hi\"".to_owned(),
            "application/json",
            400,
            "invalid JSON",
        ),
        (
            "{\"message\": \"hi\"}".to_owned(),
            "text/plain",
            415,
            "Content-Type: application/json",
        ),
        (
            "{\"message\": \"   \"}".to_owned(),
            "application/json",
            400,
            "must not be empty",
        ),
        (
            "{\"message\": \"a\\u0000b\"}".to_owned(),
            "application/json",
            400,
            "NUL",
        ),
        (
            "{\"message\": \"hi\", \"model\": \"gpt-17\"}".to_owned(),
            "application/json",
            400,
            "unknown model \"gpt-17\"",
        ),
        (
            "{\"message\": \"hi\", \"temperature\": 9}".to_owned(),
            "application/json",
            400,
            "temperature",
        ),
        (
            "{\"message\": 5}".to_owned(),
            "application/json",
            422,
            "invalid request",
        ),
        (
            "{\"message\": \"hi\", \"conversationId\": \"nope\"}".to_owned(),
            "application/json",
            422,
            "invalid request",
        ),
        (
            "{\"message\": \"hi\", \"conversationId\": \"6f1c1f2e-7d2a-4d1b-9f1e-0a0b0c0d0e0f\"}"
                .to_owned(),
            "application/json",
            404,
            "conversation not found",
        ),
    ];
    for (body, content_type, status, message) in cases {
        let (got, error) = error_of(post(body, content_type).await.expect("request")).await;
        assert_eq!(got, status, "{error}");
        assert!(error.contains(message), "expected {message:?} in {error:?}");
    }
    let (status, error) = error_of(
        h.http
            .get(h.url("/api/javari/conversations?limit=1000"))
            .bearer_auth(&h.viewer_token)
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!((status, error.contains("limit")), (400, true));
    let (status, error) = error_of(
        h.http
            .patch(h.url("/api/javari/conversations/6f1c1f2e-7d2a-4d1b-9f1e-0a0b0c0d0e0f"))
            .bearer_auth(&h.operator_token)
            .json(&json!({"status": "exploded"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 404, "{error}");

    for (filename, bytes, status, message) in [
        ("tool.exe", b"MZ\x90\x00".to_vec(), 415, "unsupported"),
        ("data.json", b"{not json".to_vec(), 400, "JSON"),
        ("empty.txt", Vec::new(), 400, "no text"),
    ] {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename),
        );
        let response = h
            .http
            .post(h.url("/api/javari/knowledge/upload"))
            .bearer_auth(&h.operator_token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let (got, error) = error_of(response).await;
        assert_eq!(got, status, "{filename}: {error}");
        assert!(
            error.to_lowercase().contains(&message.to_lowercase()),
            "{filename}: {error}"
        );
    }
    let oversized = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![b'a'; 11 * 1024 * 1024]).file_name("big.txt"),
    );
    let response = h
        .http
        .post(h.url("/api/javari/knowledge/upload"))
        .bearer_auth(&h.operator_token)
        .multipart(oversized)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 413);

    for table in [
        "javari_conversations",
        "javari_messages",
        "javari_knowledge_documents",
        "javari_document_chunks",
        "javari_cost_tracking",
    ] {
        let rows = h.scalar_i64(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(rows, 0, "{table}: nothing stored half-way");
    }
    assert_eq!(
        h.openai.chat_requests() + h.anthropic.chat_requests() + h.gemini.chat_requests(),
        0
    );
}
