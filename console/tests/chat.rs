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

/// Waits for `check` to hold, polling, up to `limit`.
async fn eventually<F, Fut>(limit: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn max_tokens_is_sent_and_an_answer_is_cut_at_its_byte_limit(pool: PgPool) {
    let mut settings = support::test_settings();
    settings.gateway.max_answer_tokens = 64;
    settings.gateway.max_answer_bytes = 20;
    let h = Harness::with_settings(pool, settings).await;
    h.openai
        .set_reply((0..50).map(|i| format!("word{i} ")).collect());
    let chat = h
        .chat(json!({"message": "hi there", "model": "gpt-3.5-turbo", "includeKnowledge": false}))
        .await;
    assert_eq!(chat.status, 200, "{}", chat.text);
    let sent = h.openai.last_chat_request().expect("request");
    assert_eq!(sent["max_tokens"], 64, "{sent}");
    let streamed = chat.tokens().concat();
    assert_eq!(streamed, "word0 word1 word2 wo", "cut at 20 bytes");
    let last = chat.last();
    assert_eq!(last["type"], "error", "{}", chat.text);
    assert_eq!(last["data"]["truncated"], true);
    let error = last["data"]["error"].as_str().expect("error");
    assert!(error.contains("20 bytes, the limit"), "{error}");
    let (content, truncated, stored_error): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT content, metadata->>'truncated', error FROM javari_messages WHERE role = 'assistant'",
        )
        .fetch_one(&h.pool)
        .await
        .expect("stored answer");
    assert_eq!(content, streamed);
    assert_eq!(truncated.as_deref(), Some("true"));
    assert!(
        stored_error
            .as_deref()
            .is_some_and(|e| e.contains("20 bytes, the limit")),
        "{stored_error:?}"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn an_answer_is_cut_at_its_duration_limit(pool: PgPool) {
    let mut settings = support::test_settings();
    settings.gateway.max_answer_duration = std::time::Duration::from_millis(500);
    let h = Harness::with_settings(pool, settings).await;
    h.openai
        .set_reply((0..40).map(|i| format!("t{i} ")).collect());
    h.openai
        .set_token_delay(std::time::Duration::from_millis(100));
    let chat = h
        .chat(json!({"message": "hi there", "model": "gpt-3.5-turbo", "includeKnowledge": false}))
        .await;
    assert_eq!(chat.status, 200, "{}", chat.text);
    let last = chat.last();
    assert_eq!(last["type"], "error", "{}", chat.text);
    let error = last["data"]["error"].as_str().expect("error");
    assert!(error.contains("took longer than 0.5 s"), "{error}");
    assert!(chat.tokens().len() < 40, "cut before the end");
    let truncated: Option<String> = sqlx::query_scalar(
        "SELECT metadata->>'truncated' FROM javari_messages WHERE role = 'assistant'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("stored answer");
    assert_eq!(truncated.as_deref(), Some("true"));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn answers_in_flight_per_user_are_limited_with_429(pool: PgPool) {
    let mut settings = support::test_settings();
    settings.max_answers_in_flight_per_user = 2;
    let h = Harness::with_settings(pool, settings).await;
    h.openai
        .set_reply((0..8).map(|i| format!("t{i} ")).collect());
    h.openai
        .set_token_delay(std::time::Duration::from_millis(150));
    let body = json!({"message": "hi there", "model": "gpt-3.5-turbo", "includeKnowledge": false});
    let mut open = Vec::new();
    for _ in 0..2 {
        let response = h
            .http
            .post(h.url("/api/javari/chat"))
            .bearer_auth(&h.operator_token)
            .json(&body)
            .send()
            .await
            .expect("chat");
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    let third = h.chat(body.clone()).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert!(
        third.text.contains("2 answers in progress"),
        "{}",
        third.text
    );
    // Another user is not affected.
    let other = h.chat_as(&h.admin_token, body.clone()).await;
    assert_eq!(other.status, 200, "{}", other.text);
    // Places come back when the answers end, read or not.
    drop(open);
    let h = &h;
    let body = &body;
    eventually(
        std::time::Duration::from_secs(20),
        "a place comes back",
        || async move { h.chat(body.clone()).await.status == 200 },
    )
    .await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_chat_started_on_one_console_is_followed_to_the_end_from_another(pool: PgPool) {
    let h = Harness::start(pool).await;
    let (replica, replica_base) = h.replica(support::test_settings()).await;
    let reply: Vec<String> = (0..12).map(|i| format!("r{i} ")).collect();
    h.openai.set_reply(reply.clone());
    h.openai
        .set_token_delay(std::time::Duration::from_millis(60));
    let started: serde_json::Value = h
        .http
        .post(h.url("/chat/send"))
        .bearer_auth(&h.operator_token)
        .header("accept", "application/json")
        .form(&[("message", "hi there"), ("model", "gpt-3.5-turbo")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let stream_id = started["streamId"].as_str().expect("stream id").to_owned();
    let follow = |token: String| {
        let url = format!("{replica_base}/chat/streams/{stream_id}");
        let http = h.http.clone();
        async move {
            let response = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("follow");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            (status, support::parse_sse(&text))
        }
    };
    // Followed live from the other console, which never relays the answer itself.
    let (status, events) = follow(h.operator_token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(replica.chat.answers_held(), 0, "the replica relays nothing");
    let tokens: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["data"]["token"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(tokens.concat(), reply.concat());
    let last = events.last().expect("events");
    assert_eq!(last["type"], "complete", "{last}");
    assert_eq!(last["data"]["conversationId"], started["conversationId"]);
    assert_eq!(last["data"]["message"]["content"], reply.concat());
    // A page that reconnects later replays the whole answer, again from the other console.
    let (_, replay) = follow(h.operator_token.clone()).await;
    assert_eq!(replay, events);
    // Nobody else's page may follow it.
    let (status, _) = follow(h.admin_token.clone()).await;
    assert_eq!(status, 404);
    // The console that relayed it keeps no copy once it is stored and published.
    let state = &h.state;
    eventually(
        std::time::Duration::from_secs(10),
        "the answer leaves memory",
        || async move { state.chat.answers_held() == 0 },
    )
    .await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn twenty_concurrent_chats_cannot_pass_a_budget_with_room_for_five(pool: PgPool) {
    // gpt-3.5-turbo: $0.0005 in, $0.0015 out per 1k. Each answer reserves its prompt plus
    // 1,000 answer tokens (about $0.00152) and costs $0.002 (1,000 + 1,000 tokens): the
    // budget admits five reservations and no sixth.
    let mut settings = support::test_settings();
    settings.gateway.max_answer_tokens = 1000;
    settings.monthly_budget_usd = Some(4.5 * 0.0015);
    settings.max_answers_in_flight_per_user = 50;
    let h = Harness::with_settings(pool, settings).await;
    h.openai.set_usage(Some((1000, 1000)));
    h.openai
        .set_reply((0..5).map(|i| format!("t{i} ")).collect());
    h.openai
        .set_token_delay(std::time::Duration::from_millis(100));
    let body = json!({"message": "hi there", "model": "gpt-3.5-turbo", "includeKnowledge": false});
    let chats = futures::future::join_all((0..20).map(|_| h.chat(body.clone()))).await;
    let answered: Vec<_> = chats.iter().filter(|c| c.status == 200).collect();
    let refused: Vec<_> = chats.iter().filter(|c| c.status == 402).collect();
    assert_eq!(
        answered.len() + refused.len(),
        20,
        "{:?}",
        chats
            .iter()
            .map(|c| (c.status, &c.text))
            .collect::<Vec<_>>()
    );
    assert_eq!(answered.len(), 5, "room for five answers");
    for chat in &answered {
        assert_eq!(chat.last()["type"], "complete", "{}", chat.text);
    }
    for chat in &refused {
        assert!(chat.text.contains("budget"), "{}", chat.text);
    }
    let billed = h
        .scalar_i64("SELECT count(*) FROM javari_cost_tracking")
        .await;
    assert_eq!(billed, 5, "at most five billed");
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_budget_reservations")
            .await,
        0,
        "every reservation settled or given back"
    );
    // Spending now passes the budget: the next one is refused before any provider is called.
    let before = h.openai.chat_requests();
    let next = h.chat(body).await;
    assert_eq!(next.status, 402, "{}", next.text);
    assert_eq!(h.openai.chat_requests(), before);
}

/// A fallback away from OpenAI and a truncated Gemini answer end up in
/// `javari_provider_days` (today, per Provider), written by the console's batched flush.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn fallbacks_and_truncations_are_stored_per_provider_per_day(pool: PgPool) {
    let h = Harness::start(pool).await;
    h.openai
        .set(Behaviour::Status(500))
        .await
        .expect("script fault");
    let code = "Fix this bug:\n```python\ndef f(): return 1/0\n```";
    let chat = h
        .chat(json!({"message": code, "includeKnowledge": false}))
        .await;
    assert_eq!(chat.complete()["provider"], "anthropic", "{}", chat.text);
    h.gemini.set(Behaviour::Truncate(2)).await.expect("fault");
    let cut = h
        .chat(json!({"message": "hi there", "includeKnowledge": false}))
        .await;
    assert_eq!(cut.last()["data"]["truncated"], true, "{}", cut.text);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows: Vec<(String, String, chrono::NaiveDate, i64, i64)> = sqlx::query_as(
            "SELECT p.namespace, p.name, d.day, d.fallbacks, d.truncations \
             FROM javari_provider_days d JOIN javari_providers p ON p.id = d.provider_id \
             ORDER BY p.name",
        )
        .fetch_all(&h.pool)
        .await
        .expect("rows");
        let today = chrono::Utc::now().date_naive();
        if rows.len() == 2 {
            assert_eq!(
                rows,
                vec![
                    ("default".to_owned(), "gemini".to_owned(), today, 0, 1),
                    ("default".to_owned(), "openai".to_owned(), today, 1, 0),
                ]
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not written within 30 s: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
