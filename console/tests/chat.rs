//! `POST /api/javari/chat` end to end over HTTP: routing rules, fallback before the first
//! token, truncated streams, and costs to the cent, against fake OpenAI, Anthropic and Gemini
//! servers speaking their real streaming protocols.

mod support;

use javari_testenv::Behaviour;
use serde_json::json;
use sqlx::PgPool;
use support::Harness;

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn routing_picks_the_provider_each_rule_calls_for(pool: PgPool) {
    let h = Harness::start(pool).await;
    let cases = [
        (
            "Why does this fail?\n```rust\nfn main() { let x: u8 = 256; }\n```",
            "openai",
            "gpt-4-turbo-preview",
            "code goes to the strongest model",
        ),
        (
            "Analyze the trade-offs between our two failover designs and compare their costs.",
            "anthropic",
            "claude-3-sonnet-20240229",
            "analysis goes to a Claude-class model",
        ),
        (
            "Write a short poem about on-call nights.",
            "anthropic",
            "claude-3-sonnet-20240229",
            "creative work goes to a Claude-class model",
        ),
        (
            "hi there",
            "gemini",
            "gemini-1.5-flash",
            "short and simple goes to the cheapest",
        ),
    ];
    for (message, provider, model, rule) in cases {
        let chat = h
            .chat(json!({"message": message, "includeKnowledge": false}))
            .await;
        assert_eq!(chat.status, 200, "{rule}: {}", chat.text);
        let done = chat.complete();
        assert_eq!(done["provider"], provider, "{rule}");
        assert_eq!(done["model"], model, "{rule}");
        assert_eq!(
            chat.tokens().concat(),
            format!("Hello from the fake {provider}."),
            "{rule}"
        );
    }
    // An explicit model wins over every rule.
    let chat = h
        .chat(json!({"message": "hi there", "model": "gpt-3.5-turbo", "includeKnowledge": false}))
        .await;
    assert_eq!(chat.complete()["model"], "gpt-3.5-turbo");
    let sent = h
        .openai
        .last_chat_request()
        .expect("openai saw the request");
    assert_eq!(sent["model"], "gpt-3.5-turbo");
    assert_eq!(sent["stream"], true);
    assert_eq!(h.openai.chat_requests(), 2);
    assert_eq!(h.anthropic.chat_requests(), 2);
    assert_eq!(h.gemini.chat_requests(), 1);
}

/// The first choice for code (OpenAI) fails with `fault`; the answer must come from the next.
async fn falls_back_on(pool: PgPool, fault: Behaviour, label: &str) {
    let h = Harness::start(pool).await;
    h.openai.set(fault).await.expect("script fault");
    let code = "Fix this bug:\n```python\ndef f(): return 1/0\n```";
    let chat = h
        .chat(json!({"message": code, "includeKnowledge": false}))
        .await;
    assert_eq!(chat.status, 200, "{label}: {}", chat.text);
    let done = chat.complete();
    assert_eq!(done["provider"], "anthropic", "{label}: fell back");
    assert_eq!(
        chat.tokens().concat(),
        "Hello from the fake anthropic.",
        "{label}"
    );
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"javari_console_chat_fallbacks_total{provider="openai"} 1"#),
        "{label}: {metrics}"
    );
    // The failing provider is cooled down: the next request does not wait on it again.
    let before = h.openai.chat_requests();
    let again = h
        .chat(json!({"message": code, "includeKnowledge": false}))
        .await;
    assert_eq!(again.complete()["provider"], "anthropic", "{label}");
    assert_eq!(
        h.openai.chat_requests(),
        before,
        "{label}: skipped while cooling down"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn fallback_on_429(pool: PgPool) {
    falls_back_on(pool, Behaviour::Status(429), "429").await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn fallback_on_500(pool: PgPool) {
    falls_back_on(pool, Behaviour::Status(500), "500").await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn fallback_on_timeout(pool: PgPool) {
    falls_back_on(pool, Behaviour::Hang, "timeout").await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn fallback_on_refused_connection(pool: PgPool) {
    falls_back_on(pool, Behaviour::Down, "refused connection").await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn every_provider_failing_is_a_502_and_stores_nothing(pool: PgPool) {
    let h = Harness::start(pool).await;
    for fake in [&h.openai, &h.anthropic, &h.gemini] {
        fake.set(Behaviour::Status(503)).await.expect("fault");
    }
    let chat = h
        .chat(json!({"message": "hello", "includeKnowledge": false}))
        .await;
    assert_eq!(chat.status, 502, "{}", chat.text);
    let body: serde_json::Value = serde_json::from_str(&chat.text).expect("json error");
    let error = body["error"].as_str().expect("message");
    for name in ["openai", "anthropic", "gemini"] {
        assert!(error.contains(name), "{error}");
    }
    assert!(!error.contains("sk-"), "no key in errors: {error}");
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_conversations")
            .await,
        0
    );
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_messages").await,
        0
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_cut_stream_is_reported_truncated_and_not_billed(pool: PgPool) {
    let h = Harness::start(pool).await;
    h.gemini.set(Behaviour::Truncate(2)).await.expect("fault");
    let chat = h
        .chat(json!({"message": "hi there", "includeKnowledge": false}))
        .await;
    assert_eq!(chat.status, 200);
    assert_eq!(chat.tokens(), vec!["Hello", " from"]);
    let last = chat.last();
    assert_eq!(last["type"], "error", "{}", chat.text);
    assert_eq!(last["data"]["truncated"], true);
    assert!(
        last["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cut off"))
    );
    assert_eq!(last["data"]["usage"]["cost"], 0.0);
    let (content, cost, truncated): (String, f64, Option<String>) = sqlx::query_as(
        "SELECT content, cost_usd::float8, metadata->>'truncated' FROM javari_messages WHERE role = 'assistant'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("stored partial answer");
    assert_eq!(content, "Hello from");
    assert_eq!(cost, 0.0);
    assert_eq!(truncated.as_deref(), Some("true"));
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_cost_tracking")
            .await,
        0,
        "not billed"
    );
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"javari_console_chat_answers_total{provider="gemini",model="gemini-1.5-flash",outcome="truncated"} 1"#),
        "{metrics}"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn costs_match_hand_computed_figures(pool: PgPool) {
    let h = Harness::start(pool).await;
    // gpt-4-turbo-preview: $0.01 in, $0.03 out per 1k. 1,200 in + 800 out = 0.012 + 0.024.
    h.openai.set_usage(Some((1200, 800)));
    let first = h
        .chat(json!({"message": "Refactor this:\n```js\nfunction a(){}\n```", "includeKnowledge": false}))
        .await;
    let done = first.complete();
    assert_eq!(done["model"], "gpt-4-turbo-preview");
    assert_eq!(done["usage"]["promptTokens"], 1200);
    assert_eq!(done["usage"]["completionTokens"], 800);
    assert_eq!(done["usage"]["totalTokens"], 2000);
    assert_eq!(done["usage"]["cost"], 0.036);
    let overhead: f64 = first.headers["x-javari-overhead-ms"]
        .to_str()
        .expect("header")
        .parse()
        .expect("ms");
    assert!(overhead >= 0.0);
    assert!(done["overheadMs"].as_f64().is_some());
    let conversation = done["conversationId"].as_str().expect("id").to_owned();

    // claude-3-sonnet: $0.003 in, $0.015 out. 2,000 in + 1,000 out = 0.006 + 0.015.
    h.anthropic.set_usage(Some((2000, 1000)));
    let second = h
        .chat(json!({"message": "Analyze why the rollback was slow and compare options.", "conversationId": conversation, "includeKnowledge": false}))
        .await;
    assert_eq!(second.complete()["usage"]["cost"], 0.021);

    let total = h
        .scalar_f64(&format!(
            "SELECT cost_usd::float8 FROM javari_conversations WHERE id = '{conversation}'"
        ))
        .await;
    assert_eq!(format!("{total:.2}"), "0.06");
    assert!((total - 0.057).abs() < 1e-9, "{total}");
    let tokens = h
        .scalar_i64(&format!(
            "SELECT total_tokens FROM javari_conversations WHERE id = '{conversation}'"
        ))
        .await;
    assert_eq!(tokens, 5000);
    let billed = h
        .scalar_f64("SELECT sum(cost_usd)::float8 FROM javari_cost_tracking")
        .await;
    assert!((billed - 0.057).abs() < 1e-9, "{billed}");
    let by_provider = h
        .scalar_f64(
            "SELECT cost_usd::float8 FROM javari_cost_tracking WHERE provider = 'anthropic'",
        )
        .await;
    assert!((by_provider - 0.021).abs() < 1e-9);
    let user_total = h
        .scalar_f64(&format!(
            "SELECT sum(cost_usd)::float8 FROM javari_messages WHERE user_id = '{}'",
            h.operator.id
        ))
        .await;
    assert!((user_total - 0.057).abs() < 1e-9, "{user_total}");
    // The second request carried the first exchange as context.
    let sent = h.anthropic.last_chat_request().expect("request");
    assert!(sent.to_string().contains("Refactor this"), "{sent}");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_monthly_budget_warns_then_stops(pool: PgPool) {
    let mut settings = support::test_settings();
    settings.monthly_budget_usd = Some(0.08);
    let h = Harness::with_settings(pool, settings).await;
    h.openai.set_usage(Some((1200, 800)));
    let code = "Fix:\n```go\nfunc main() {}\n```";
    let mut states = Vec::new();
    for _ in 0..3 {
        let chat = h
            .chat(json!({"message": code, "includeKnowledge": false}))
            .await;
        states.push(
            chat.complete()["budget"]["state"]
                .as_str()
                .expect("state")
                .to_owned(),
        );
    }
    // Spent before each request: 0, 0.036 (45 %), 0.072 (90 %: the soft warning).
    assert_eq!(states, ["ok", "ok", "warning"]);
    // 0.108 spent: the hard stop, before any provider is called.
    let stopped = h
        .chat(json!({"message": code, "includeKnowledge": false}))
        .await;
    assert_eq!(stopped.status, 402, "{}", stopped.text);
    assert!(stopped.text.contains("budget"), "{}", stopped.text);
    assert_eq!(h.openai.chat_requests(), 3);
}
