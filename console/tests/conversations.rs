//! Conversations and knowledge through the API: search, star, status, children, summaries
//! for long conversations, uploads with duplicate detection, and answers citing knowledge.

mod support;

use serde_json::{Value, json};
use sqlx::PgPool;
use support::Harness;

async fn get_json(h: &Harness, path: &str) -> Value {
    let response = h
        .http
        .get(h.url(path))
        .bearer_auth(&h.operator_token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.expect("json")
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn conversations_are_listed_searched_starred_and_continued(pool: PgPool) {
    let h = Harness::start(pool).await;
    let first = h
        .chat(json!({"message": "hi there", "includeKnowledge": false}))
        .await;
    let a = first.complete()["conversationId"]
        .as_str()
        .expect("id")
        .to_owned();
    let _ = h
        .chat(json!({"message": "what does the quokka deployment do", "conversationId": a, "includeKnowledge": false}))
        .await
        .complete();
    let other = h
        .chat(json!({"message": "hello again", "includeKnowledge": false}))
        .await;
    let b = other.complete()["conversationId"]
        .as_str()
        .expect("id")
        .to_owned();

    let all = get_json(&h, "/api/javari/conversations?limit=1").await;
    assert_eq!(all["total"], 2);
    assert_eq!(
        all["conversations"].as_array().expect("list").len(),
        1,
        "paginated"
    );
    assert_eq!(all["limit"], 1);

    let found = get_json(&h, "/api/javari/conversations?search=quokka").await;
    let ids: Vec<&str> = found["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str()], "found by a word in a message");
    assert_eq!(found["conversations"][0]["message_count"], 4);

    let patched = h
        .http
        .patch(h.url(&format!("/api/javari/conversations/{b}")))
        .bearer_auth(&h.operator_token)
        .json(&json!({"starred": true, "status": "paused"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status().as_u16(), 200);
    let starred = get_json(&h, "/api/javari/conversations?starred=true").await;
    assert_eq!(starred["total"], 1);
    assert_eq!(starred["conversations"][0]["id"], b.as_str());
    let paused = get_json(&h, "/api/javari/conversations?status=paused").await;
    assert_eq!(paused["total"], 1);

    let child = h
        .http
        .post(h.url(&format!("/api/javari/conversations/{a}/continue")))
        .bearer_auth(&h.operator_token)
        .send()
        .await
        .expect("continue");
    assert_eq!(child.status().as_u16(), 201);
    let child: Value = child.json().await.expect("json");
    assert_eq!(child["conversation"]["parent_id"], a.as_str());

    // The viewer sees none of the operator's conversations.
    let theirs = h
        .http
        .get(h.url("/api/javari/conversations"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("list")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(theirs["total"], 0);
    let detail = get_json(&h, &format!("/api/javari/conversations/{a}")).await;
    assert_eq!(detail["messages"].as_array().expect("messages").len(), 4);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn long_conversations_send_a_summary_and_the_last_messages(pool: PgPool) {
    let mut settings = support::test_settings();
    settings.keep_last_messages = 4;
    let h = Harness::with_settings(pool, settings).await;
    let first = h
        .chat(json!({"message": "hi, the platypus cluster is ours", "includeKnowledge": false}))
        .await;
    let id = first.complete()["conversationId"]
        .as_str()
        .expect("id")
        .to_owned();
    for i in 0..5 {
        let chat = h
            .chat(json!({"message": format!("hello number {i}"), "conversationId": id, "includeKnowledge": false}))
            .await;
        chat.complete();
    }
    let sent = h.gemini.last_chat_request().expect("request");
    let contents = sent["contents"].as_array().expect("gemini contents");
    // The last 4 stored messages plus the new one; the first message only via the summary.
    assert_eq!(contents.len(), 5, "{sent}");
    let system = sent["systemInstruction"].to_string();
    assert!(
        system.contains("platypus"),
        "summary carries the early context: {system}"
    );
    assert!(!contents.iter().any(|c| c.to_string().contains("platypus")));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn knowledge_is_uploaded_once_searched_and_cited(pool: PgPool) {
    let h = Harness::start(pool).await;
    let doc = "# Region failover\n\nBefore switching regions, drain the zebra queue and pause the batch importers.\n\nThen promote the standby database.";
    let upload = |bytes: &'static [u8]| {
        let form = reqwest::multipart::Form::new()
            .text("title", "Failover runbook")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("failover.md"),
            );
        h.http
            .post(h.url("/api/javari/knowledge/upload"))
            .bearer_auth(&h.operator_token)
            .multipart(form)
            .send()
    };
    let first = upload(doc.as_bytes()).await.expect("upload");
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["document"]["file_type"], "md");
    assert!(
        first["document"]["chunk_count"]
            .as_i64()
            .is_some_and(|n| n >= 1)
    );
    let again = upload(doc.as_bytes()).await.expect("upload");
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["document"]["id"], first["document"]["id"]);
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_knowledge_documents")
            .await,
        1
    );
    // With pgvector and an embeddings model (the fake OpenAI's), chunks get vectors and
    // search runs on them.
    assert!(
        javari_core::knowledge::vector_search_available(&h.pool)
            .await
            .expect("probe"),
        "pgvector is missing: run `make deps` (testenv/install-pgvector.sh)"
    );
    let embedded = h
        .scalar_i64("SELECT count(*) FROM javari_document_chunks WHERE embedding IS NOT NULL")
        .await;
    assert_eq!(
        Some(embedded),
        first["document"]["chunk_count"].as_i64(),
        "every chunk embedded"
    );

    let results: Value = h
        .http
        .post(h.url("/api/javari/knowledge/search"))
        .bearer_auth(&h.viewer_token)
        .json(&json!({"query": "zebra queue", "threshold": 0.0, "limit": 5}))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(
        results["results"].as_array().expect("results").len(),
        0,
        "the viewer does not see the operator's documents"
    );
    let results: Value = h
        .http
        .post(h.url("/api/javari/knowledge/search"))
        .bearer_auth(&h.operator_token)
        .json(&json!({"query": "zebra queue", "threshold": 0.0, "limit": 5}))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let hit = &results["results"][0];
    assert!(
        hit["content"]
            .as_str()
            .is_some_and(|c| c.contains("zebra queue")),
        "{results}"
    );
    assert_eq!(hit["document_name"], "failover.md");
    let similarity = hit["similarity"].as_f64().expect("similarity");
    assert!((0.0..=1.0).contains(&similarity));

    let chat = h
        .chat(json!({"message": "How do I drain the zebra queue?"}))
        .await;
    let done = chat.complete();
    let citations = done["message"]["citations"].as_array().expect("citations");
    assert_eq!(citations.len(), 1, "{done}");
    assert_eq!(citations[0]["documentName"], "failover.md");
    let sent = h.gemini.last_chat_request().expect("request").to_string()
        + &h.openai
            .last_chat_request()
            .map(|v| v.to_string())
            .unwrap_or_default()
        + &h.anthropic
            .last_chat_request()
            .map(|v| v.to_string())
            .unwrap_or_default();
    assert!(
        sent.contains("pause the batch importers"),
        "the chunk went into the prompt"
    );
}
