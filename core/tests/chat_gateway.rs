//! The chat gateway against fake OpenAI, Anthropic and Gemini servers (one fake per
//! provider, each with its own key): routing, fallback on each kind of failure, truncation,
//! usage and cost, cooldowns and rate limits. No database needed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use javari_core::chat::{
    ChatMessage, Delta, Gateway, GatewayConfig, ModelInfo, OpenChat, ProviderEntry, Role, Usage,
    cost_usd, embed,
};
use javari_core::vault::SecretValue;
use javari_crds::provider::ProviderApi;
use javari_testenv::{Behaviour, FakeProvider};

const OPENAI_KEY: &str = "sk-openai-fake-1111";
const ANTHROPIC_KEY: &str = "sk-ant-fake-2222";
const GEMINI_KEY: &str = "AIza-fake-3333";

struct Fleet {
    openai: FakeProvider,
    anthropic: FakeProvider,
    gemini: FakeProvider,
    providers: Vec<ProviderEntry>,
}

fn model(name: &str, input: f64, output: f64, caps: &[&str], window: i32) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        input_cost_per_1k: input,
        output_cost_per_1k: output,
        capabilities: caps
            .iter()
            .map(|c| c.parse().expect("a capability"))
            .collect(),
        context_window: Some(window),
    }
}

fn entry(
    name: &str,
    api: ProviderApi,
    endpoint: String,
    key: &str,
    priority: i32,
    models: Vec<ModelInfo>,
) -> ProviderEntry {
    ProviderEntry {
        id: uuid::Uuid::new_v4(),
        namespace: "ai".into(),
        name: name.into(),
        api,
        endpoint,
        api_key: Some(Arc::new(SecretValue::from(key.to_owned()))),
        priority,
        health: javari_crds::provider::ProviderHealth::Operational,
        rate_limit_rpm: None,
        models,
    }
}

async fn fleet() -> Fleet {
    let openai = FakeProvider::start(OPENAI_KEY).await.expect("openai fake");
    let anthropic = FakeProvider::start(ANTHROPIC_KEY)
        .await
        .expect("anthropic fake");
    let gemini = FakeProvider::start(GEMINI_KEY).await.expect("gemini fake");
    let providers = vec![
        entry(
            "openai",
            ProviderApi::Openai,
            format!("{}/openai/v1", openai.url()),
            OPENAI_KEY,
            1,
            vec![
                model("gpt-4o-mini", 0.00015, 0.0006, &["chat"], 128_000),
                model(
                    "gpt-4-turbo-preview",
                    0.01,
                    0.03,
                    &["chat", "code"],
                    128_000,
                ),
                model(
                    "text-embedding-3-small",
                    0.00002,
                    0.0,
                    &["embeddings"],
                    8191,
                ),
            ],
        ),
        entry(
            "anthropic",
            ProviderApi::Anthropic,
            format!("{}/anthropic", anthropic.url()),
            ANTHROPIC_KEY,
            2,
            vec![model(
                "claude-3-5-sonnet-20241022",
                0.003,
                0.015,
                &["chat", "code"],
                200_000,
            )],
        ),
        entry(
            "gemini",
            ProviderApi::Gemini,
            format!("{}/gemini/v1beta", gemini.url()),
            GEMINI_KEY,
            3,
            vec![model(
                "gemini-1.5-flash",
                0.000075,
                0.0003,
                &["chat"],
                1_000_000,
            )],
        ),
    ];
    Fleet {
        openai,
        anthropic,
        gemini,
        providers,
    }
}

fn fast() -> GatewayConfig {
    GatewayConfig {
        connect_timeout: Duration::from_millis(500),
        first_token_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(400),
        retries: 1,
        backoff: Duration::from_millis(10),
        cooldown: Duration::from_secs(30),
        ..GatewayConfig::default()
    }
}

fn user(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::new(Role::User, text)]
}

/// Reads the chat to its end: the text and the last delta (`Done` or `Truncated`).
async fn drain(chat: &mut OpenChat) -> (String, Delta) {
    let mut text = String::new();
    loop {
        match chat.next().await {
            Some(Delta::Token(t)) => text.push_str(&t),
            Some(last) => {
                assert_eq!(chat.next().await, None, "nothing after the end");
                return (text, last);
            }
            None => panic!("chat ended without Done or Truncated"),
        }
    }
}

/// Plans for `message` and asks; returns (provider name, model, text, last delta, attempts).
async fn ask(
    gateway: &Gateway,
    providers: &[ProviderEntry],
    explicit: Option<&str>,
    message: &str,
) -> (
    String,
    String,
    String,
    Delta,
    Vec<javari_core::chat::Attempt>,
) {
    let candidates = gateway
        .plan(providers, explicit, message, 0)
        .expect("candidates");
    let mut chat = gateway
        .open(candidates, user(message), 0.2)
        .await
        .expect("a provider answers");
    let (text, last) = drain(&mut chat).await;
    (
        chat.provider.name.clone(),
        chat.model.name.clone(),
        text,
        last,
        chat.attempts.clone(),
    )
}

#[tokio::test]
async fn routing_picks_the_provider_for_each_task() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());

    let (provider, model, text, last, attempts) = ask(
        &gateway,
        &f.providers,
        None,
        "Fix this bug:\n```rust\nfn main() { let x: u32 = -1; }\n```",
    )
    .await;
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("openai", "gpt-4-turbo-preview")
    );
    assert_eq!(text, "Hello from the fake openai.");
    assert!(matches!(last, Delta::Done { ref finish_reason, .. } if finish_reason == "stop"));
    assert!(attempts.is_empty());
    let sent = f.openai.last_chat_request().expect("openai request");
    assert_eq!(sent["model"], "gpt-4-turbo-preview");
    assert_eq!(sent["stream_options"]["include_usage"], true);

    for message in [
        "Analyze the pros and cons of event sourcing for our billing service",
        "Write a poem about on-call engineers at 3am",
    ] {
        let (provider, model, text, ..) = ask(&gateway, &f.providers, None, message).await;
        assert_eq!(
            (provider.as_str(), model.as_str()),
            ("anthropic", "claude-3-5-sonnet-20241022"),
            "{message}"
        );
        assert_eq!(text, "Hello from the fake anthropic.");
    }
    assert_eq!(f.anthropic.chat_requests(), 2);

    let (provider, model, text, ..) = ask(&gateway, &f.providers, None, "hi, what's up?").await;
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("gemini", "gemini-1.5-flash")
    );
    assert_eq!(text, "Hello from the fake gemini.");
    assert_eq!(
        f.gemini.last_chat_request().expect("gemini request")["model"],
        "gemini-1.5-flash"
    );

    // An explicit model beats the task's preference (this is a code question).
    let (provider, model, ..) = ask(
        &gateway,
        &f.providers,
        Some("gpt-4o-mini"),
        "why does this compile?",
    )
    .await;
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!(f.openai.chat_requests(), 2);
}

#[tokio::test]
async fn usage_from_each_api_matches_the_fake_and_prices_correctly() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    // 3 + 4 words in, 6 tokens out.
    let messages = vec![
        ChatMessage::new(Role::System, "You are terse."),
        ChatMessage::new(Role::User, "say hello to me"),
    ];
    for (model, expected_cost) in [
        // 7/1000 × 0.01 + 6/1000 × 0.03
        ("gpt-4-turbo-preview", 0.00025),
        // 7/1000 × 0.003 + 6/1000 × 0.015
        ("claude-3-5-sonnet-20241022", 0.000111),
        // 7/1000 × 0.000075 + 6/1000 × 0.0003 = 0.000002325 → 0.000002
        ("gemini-1.5-flash", 0.000002),
    ] {
        let candidates = gateway
            .plan(&f.providers, Some(model), "say hello to me", 0)
            .expect("plan");
        let mut chat = gateway
            .open(candidates, messages.clone(), 0.3)
            .await
            .expect("open");
        let (_, last) = drain(&mut chat).await;
        let Delta::Done {
            usage, estimated, ..
        } = last
        else {
            panic!("{model}: {last:?}");
        };
        assert_eq!(
            (usage, estimated),
            (
                Usage {
                    prompt_tokens: 7,
                    completion_tokens: 6
                },
                false
            ),
            "{model}"
        );
        assert_eq!(cost_usd(&chat.model, usage), expected_cost, "{model}");
    }
    let anthropic = f.anthropic.last_chat_request().expect("anthropic request");
    assert_eq!(anthropic["system"], "You are terse.");
    // The configured answer-token limit goes to every API.
    assert_eq!(anthropic["max_tokens"], fast().max_answer_tokens);
    let openai = f.openai.last_chat_request().expect("openai request");
    assert_eq!(openai["max_tokens"], fast().max_answer_tokens);
    let gemini = f.gemini.last_chat_request().expect("gemini request");
    assert_eq!(
        gemini["systemInstruction"]["parts"][0]["text"],
        "You are terse."
    );
    assert_eq!(gemini["contents"][0]["role"], "user");

    // The brief's figure: 1000 tokens in, 500 out at 0.01/0.03 → $0.025.
    f.openai.set_reply(vec![" tok".to_owned(); 500]);
    let long = "word ".repeat(1000);
    let candidates = gateway
        .plan(&f.providers, Some("gpt-4-turbo-preview"), &long, 0)
        .expect("plan");
    let mut chat = gateway
        .open(candidates, user(&long), 0.0)
        .await
        .expect("open");
    let (text, last) = drain(&mut chat).await;
    assert_eq!(text.len(), 2000);
    let Delta::Done { usage, .. } = last else {
        panic!("{last:?}");
    };
    assert_eq!(
        usage,
        Usage {
            prompt_tokens: 1000,
            completion_tokens: 500
        }
    );
    assert_eq!(cost_usd(&chat.model, usage), 0.025);
}

#[tokio::test]
async fn a_429_falls_back_and_cools_the_provider_down() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    f.openai.script(vec![Behaviour::Status(429)]);
    let (provider, _, text, _, attempts) =
        ask(&gateway, &f.providers, None, "tell me something nice").await;
    assert_eq!(provider, "gemini", "simple → cheapest after openai failed");
    assert_eq!(text, "Hello from the fake gemini.");
    assert!(attempts.is_empty(), "openai was not the first choice");

    // General task: openai (priority 1) first, the still-queued 429 → next by priority, no
    // retry on 429.
    let general = "Please give me a summary of what the platform team did this week, including the deployments, the incidents and anything else notable.";
    let (provider, _, text, _, attempts) = ask(&gateway, &f.providers, None, general).await;
    assert_eq!(provider, "anthropic");
    assert_eq!(text, "Hello from the fake anthropic.");
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].provider, "ai/openai");
    assert!(attempts[0].error.contains("429"), "{}", attempts[0].error);
    assert!(
        attempts[0].error.contains("scripted failure"),
        "the API's own message: {}",
        attempts[0].error
    );

    // Cooling down: the next plan leaves openai out entirely.
    let candidates = gateway.plan(&f.providers, None, general, 0).expect("plan");
    assert!(
        candidates.iter().all(|c| c.provider.name != "openai"),
        "{:?}",
        candidates
            .iter()
            .map(|c| &c.provider.name)
            .collect::<Vec<_>>()
    );
    let stats = gateway.stats();
    let openai = stats
        .iter()
        .find(|s| s.name == "ai/openai")
        .expect("openai stats");
    assert_eq!(openai.fallbacks_from, 1);
    assert!(openai.cooldown_until.is_some_and(|t| t > Instant::now()));
    assert_eq!(f.openai.chat_requests(), 1);
}

const GENERAL: &str = "Please give me a summary of what the platform team did this week, including the deployments, the incidents and anything else notable.";

#[tokio::test]
async fn a_500_is_retried_once_then_falls_back() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    f.openai.set(Behaviour::Status(500)).await.expect("500");
    let (provider, _, text, _, attempts) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(provider, "anthropic");
    assert_eq!(text, "Hello from the fake anthropic.");
    assert_eq!(
        f.openai.chat_requests(),
        2,
        "one retry on the same provider"
    );
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a.provider == "ai/openai" && a.error.starts_with("HTTP 500")),
        "{attempts:?}"
    );
    // Two consecutive failures: cooled down.
    let candidates = gateway.plan(&f.providers, None, GENERAL, 0).expect("plan");
    assert_eq!(candidates[0].provider.name, "anthropic");
}

#[tokio::test]
async fn a_hanging_provider_times_out_and_falls_back() {
    let f = fleet().await;
    let gateway = Gateway::new(GatewayConfig {
        first_token_timeout: Duration::from_millis(300),
        ..fast()
    });
    f.openai.set(Behaviour::Hang).await.expect("hang");
    let started = Instant::now();
    let (provider, _, text, _, attempts) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(provider, "anthropic");
    assert_eq!(text, "Hello from the fake anthropic.");
    assert_eq!(attempts.len(), 1, "timeouts are not retried: {attempts:?}");
    assert!(
        attempts[0].error.contains("no first token within 300 ms"),
        "{}",
        attempts[0].error
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_refused_connection_falls_back() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    f.openai.set(Behaviour::Down).await.expect("down");
    let (provider, _, text, _, attempts) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(provider, "anthropic");
    assert_eq!(text, "Hello from the fake anthropic.");
    assert_eq!(
        attempts.len(),
        2,
        "connect errors are retried once: {attempts:?}"
    );
    assert!(
        attempts[0]
            .error
            .starts_with("cannot connect to http://127.0.0.1:"),
        "{}",
        attempts[0].error
    );
    assert_eq!(f.openai.chat_requests(), 0);
}

#[tokio::test]
async fn a_failure_before_the_first_token_falls_back() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    f.openai.script(vec![Behaviour::Truncate(0)]);
    let (provider, _, _, _, attempts) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(provider, "anthropic");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error, "stream ended before the first token");
    assert_eq!(gateway.truncations("ai/openai"), 0, "not a truncation");
}

#[tokio::test]
async fn a_truncated_stream_is_reported_never_done() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    for (fake, name, model) in [
        (&f.openai, "ai/openai", "gpt-4o-mini"),
        (&f.anthropic, "ai/anthropic", "claude-3-5-sonnet-20241022"),
        (&f.gemini, "ai/gemini", "gemini-1.5-flash"),
    ] {
        fake.script(vec![Behaviour::Truncate(2)]);
        let candidates = gateway
            .plan(&f.providers, Some(model), "hello", 0)
            .expect("plan");
        let mut chat = gateway
            .open(candidates, user("hello"), 0.2)
            .await
            .expect("open");
        assert_eq!(chat.next().await, Some(Delta::Token("Hello".into())));
        assert_eq!(chat.next().await, Some(Delta::Token(" from".into())));
        let last = chat.next().await;
        let Some(Delta::Truncated {
            reason,
            usage_estimate,
        }) = last
        else {
            panic!("{name}: {last:?}");
        };
        assert_eq!(reason, "stream ended without a finish reason", "{name}");
        assert_eq!(
            usage_estimate,
            Usage {
                prompt_tokens: 2,
                completion_tokens: 3
            },
            "{name}: ~4 chars per token of \"hello\" and \"Hello from\""
        );
        assert_eq!(chat.next().await, None);
        assert_eq!(gateway.truncations(name), 1, "{name}");
    }
}

#[tokio::test]
async fn a_stalled_stream_is_truncated_after_the_idle_timeout() {
    let f = fleet().await;
    let gateway = Gateway::new(GatewayConfig {
        idle_timeout: Duration::from_millis(150),
        ..fast()
    });
    f.gemini.set_token_delay(Duration::from_millis(1000));
    let candidates = gateway
        .plan(&f.providers, Some("gemini-1.5-flash"), "hello", 0)
        .expect("plan");
    let mut chat = gateway
        .open(candidates, user("hello"), 0.2)
        .await
        .expect("open");
    assert_eq!(chat.next().await, Some(Delta::Token("Hello".into())));
    let last = chat.next().await;
    assert!(
        matches!(last, Some(Delta::Truncated { ref reason, .. }) if reason == "no data for 150 ms"),
        "{last:?}"
    );
    assert_eq!(gateway.truncations("ai/gemini"), 1);
    let stats = gateway.stats();
    assert!(
        stats
            .iter()
            .any(|s| s.name == "ai/gemini" && s.truncations == 1)
    );
}

#[tokio::test]
async fn rate_limit_of_one_rpm_sends_the_second_request_elsewhere() {
    let mut f = fleet().await;
    f.providers[0].rate_limit_rpm = Some(1);
    let gateway = Gateway::new(fast());
    let first_plan = gateway.plan(&f.providers, None, GENERAL, 0).expect("plan");
    let (provider, ..) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(provider, "openai");
    let (provider, ..) = ask(&gateway, &f.providers, None, GENERAL).await;
    assert_eq!(
        provider, "anthropic",
        "openai's one request a minute is used"
    );
    // A stale plan still listing openai: the gateway refuses locally and falls back.
    assert_eq!(first_plan[0].provider.name, "openai");
    let mut chat = gateway
        .open(first_plan, user(GENERAL), 0.2)
        .await
        .expect("open");
    assert_eq!(chat.provider.name, "anthropic");
    assert!(
        chat.attempts[0]
            .error
            .contains("rate limit of 1 requests/minute")
    );
    let _ = drain(&mut chat).await;
    assert_eq!(f.openai.chat_requests(), 1);
}

#[tokio::test]
async fn when_everything_fails_every_attempt_is_listed_without_secrets() {
    let mut f = fleet().await;
    let gateway = Gateway::new(GatewayConfig {
        retries: 0,
        ..fast()
    });
    let wrong = "sk-wrong-key-that-must-not-leak";
    f.providers[0].api_key = Some(Arc::new(SecretValue::from(wrong.to_owned())));
    f.anthropic.set(Behaviour::Down).await.expect("down");
    f.gemini.set(Behaviour::Status(503)).await.expect("503");
    let candidates = gateway.plan(&f.providers, None, GENERAL, 0).expect("plan");
    let Err(error) = gateway.open(candidates, user(GENERAL), 0.2).await else {
        panic!("every provider is broken");
    };
    let providers: Vec<&str> = error.attempts.iter().map(|a| a.provider.as_str()).collect();
    assert_eq!(providers, vec!["ai/openai", "ai/anthropic", "ai/gemini"]);
    let text = format!("{error} {error:?}");
    assert!(text.contains("HTTP 401: invalid API key"), "{text}");
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(text.contains("cannot connect"), "{text}");
    for secret in [wrong, OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(!format!("{:?}", f.providers).contains(GEMINI_KEY));
}

#[tokio::test]
async fn an_empty_reply_finishes_at_once() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    f.anthropic.set_reply(Vec::new());
    let candidates = gateway
        .plan(&f.providers, Some("claude-3-5-sonnet-20241022"), "hello", 0)
        .expect("plan");
    let mut chat = gateway
        .open(candidates, user("hello"), 0.2)
        .await
        .expect("open");
    let (text, last) = drain(&mut chat).await;
    assert_eq!(text, "");
    assert_eq!(
        last,
        Delta::Done {
            finish_reason: "end_turn".into(),
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 0
            },
            estimated: false
        }
    );
}

#[tokio::test]
async fn embeddings_are_deterministic_and_similar_for_shared_words() {
    let f = fleet().await;
    let gateway = Gateway::new(fast());
    let inputs = vec![
        "restart the payments database".to_owned(),
        "how do I restart the database".to_owned(),
        "purple elephants dance".to_owned(),
    ];
    let vectors = embed(
        gateway.http(),
        &f.providers[0],
        "text-embedding-3-small",
        &inputs,
    )
    .await
    .expect("embeddings");
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.len() == 1536));
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.3);
    // Not an OpenAI API: refused without a request.
    assert!(
        embed(gateway.http(), &f.providers[1], "x", &inputs)
            .await
            .is_err()
    );
    // A wrong key is a 401 with the API's message.
    let mut bad = f.providers[0].clone();
    bad.api_key = None;
    let err = embed(gateway.http(), &bad, "text-embedding-3-small", &inputs)
        .await
        .expect_err("no key");
    assert_eq!(err.to_string(), "HTTP 401: invalid API key");
}

#[tokio::test]
async fn the_probe_endpoints_still_answer() {
    let f = fleet().await;
    let http = javari_core::http::client();
    for p in &f.providers {
        let key = p.api_key.as_deref();
        let ok =
            javari_core::providers::probe(&http, p.api, &p.endpoint, key, Duration::from_secs(2))
                .await;
        assert_eq!(
            ok.health,
            javari_crds::provider::ProviderHealth::Operational,
            "{}: {ok:?}",
            p.name
        );
        let wrong = SecretValue::from("nope".to_owned());
        let refused = javari_core::providers::probe(
            &http,
            p.api,
            &p.endpoint,
            Some(&wrong),
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(
            refused.error.as_deref(),
            Some("credential refused (HTTP 401)"),
            "{}",
            p.name
        );
    }
    f.openai.set(Behaviour::Status(429)).await.expect("429");
    let limited = javari_core::providers::probe(
        &http,
        ProviderApi::Openai,
        &f.providers[0].endpoint,
        None,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(limited.error.as_deref(), Some("rate limited (HTTP 429)"));
    assert_eq!(f.openai.requests(), 3);
    assert_eq!(f.openai.chat_requests(), 0);
}
