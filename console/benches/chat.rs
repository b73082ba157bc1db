//! `make bench` (console): the console's added latency to the first token over calling the
//! fake provider directly (p50/p99), and how many concurrent streams one console process holds
//! on this machine with its memory per stream. Prints figures; asserts nothing about speed.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use javari_console::auth::{Role, create_token, create_user};
use javari_core::providers::{StoredModel, sync_provider};
use javari_core::vault::{Keyring, MasterKey, NewCredential, SecretValue, Vault};
use javari_testenv::FakeProvider;
use serde_json::json;

const KEY: &str = "sk-bench";
const MODEL: &str = "gpt-4o-mini";
const SAMPLES: usize = 400;
/// Requests in the paced run (each pair takes about a second).
const PACED_SAMPLES: usize = 150;

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    (percentile(&ms, 0.50), percentile(&ms, 0.99))
}

fn rss_kib(pid: u32) -> u64 {
    javari_testenv::proc_status_kib(pid, "VmRSS:").unwrap_or(0)
}

/// Milliseconds until the first streamed content chunk, straight from the fake provider.
async fn direct_first_token(http: &reqwest::Client, base: &str) -> f64 {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/openai/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({
            "model": MODEL, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "You are Javari."}, {"role": "user", "content": "hello there"}],
        }))
        .send()
        .await
        .expect("direct request");
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("chunk"));
        if seen.windows(9).any(|w| w == b"\"content\"") {
            break;
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    while body.next().await.is_some() {}
    ms
}

/// Milliseconds until the first `token` event through the console, and its overhead header.
async fn console_first_token(http: &reqwest::Client, base: &str, token: &str) -> (f64, f64) {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/javari/chat"))
        .bearer_auth(token)
        .json(&json!({"message": "hello there", "model": MODEL, "includeKnowledge": false}))
        .send()
        .await
        .expect("console request");
    assert_eq!(response.status().as_u16(), 200, "console answered");
    let header: f64 = response
        .headers()
        .get("x-javari-overhead-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    let mut first = None;
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("chunk"));
        if first.is_none() && seen.windows(14).any(|w| w == b"\"type\":\"token\"") {
            first = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    (first.expect("a token event"), header)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = javari_testenv::fresh_database()
        .await
        .expect("a fresh database (run via `make bench`)");
    let pool = javari_core::db::connect(&url, 4).await.expect("connect");
    javari_core::db::migrate(&pool).await.expect("migrate");
    let master = MasterKey::generate();
    let master_hex = master.to_hex().to_string();
    let vault = Vault::new(pool.clone(), Arc::new(Keyring::new(master, vec![])));
    let fake = FakeProvider::start(KEY).await.expect("fake provider");
    vault
        .create(
            NewCredential {
                namespace: "default",
                name: "openai-api-key",
                service: "openai",
                credential_type: "api_key",
                source: "console",
            },
            &SecretValue::from(KEY.to_owned()),
            "bench",
            "fixture",
        )
        .await
        .expect("key");
    sync_provider(
        &pool,
        "default",
        "openai",
        "openai",
        &format!("{}/openai/v1", fake.url()),
        Some("openai-api-key"),
        1,
        true,
        None,
        &[StoredModel {
            name: MODEL,
            input_cost_per_1k: 0.00015,
            output_cost_per_1k: 0.0006,
            capabilities: vec!["chat".into()],
            context_window: Some(128_000),
        }],
    )
    .await
    .expect("provider");
    let user = create_user(
        &pool,
        "bench@example.test",
        "bench password 1234",
        Role::Operator,
    )
    .await
    .expect("user");
    let token = create_token(&pool, &user, "bench", Role::Operator)
        .await
        .expect("token")
        .token;

    let port = javari_testenv::free_port().expect("port");
    let console = Console(
        Command::new(env!("CARGO_BIN_EXE_javari-console"))
            .env("DATABASE_URL", &url)
            .env("JAVARI_MASTER_KEY", &master_hex)
            .env("JAVARI_CONSOLE_LISTEN", format!("127.0.0.1:{port}"))
            .env("JAVARI_TRUSTED_NAMESPACES", "default")
            .env("RUST_LOG", "warn")
            // One bench user opens thousands of streams at once.
            .env("JAVARI_CHAT_MAX_ANSWERS_IN_FLIGHT", "100000")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start javari-console"),
    );
    let pid = console.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
        .expect("client");
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "console did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Latency to the first token, one request at a time, after a warm-up.
    for _ in 0..50 {
        direct_first_token(&http, &fake.url()).await;
        console_first_token(&http, &base, &token).await;
    }
    let mut direct = Vec::with_capacity(SAMPLES);
    let mut via = Vec::with_capacity(SAMPLES);
    let mut header = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        direct.push(direct_first_token(&http, &fake.url()).await);
        let (ms, own) = console_first_token(&http, &base, &token).await;
        via.push(ms);
        header.push(own);
    }
    let (d50, d99) = summary(direct);
    let (v50, v99) = summary(via);
    let (h50, h99) = summary(header);
    println!("console chat: time to first token over {SAMPLES} back-to-back requests (no pacing)");
    println!("  direct to the fake provider   p50 {d50:7.3} ms   p99 {d99:7.3} ms");
    println!("  through javari-console        p50 {v50:7.3} ms   p99 {v99:7.3} ms");
    println!(
        "  added by the console          p50 {:7.3} ms   p99 {:7.3} ms",
        v50 - d50,
        v99 - d99
    );
    println!("  x-javari-overhead-ms header   p50 {h50:7.3} ms   p99 {h99:7.3} ms");

    // Paced like a person: the provider streams a token every 60 ms and requests come
    // 200–500 ms apart, so the console, its pool and PostgreSQL sit idle between requests.
    fake.set_token_delay(Duration::from_millis(60));
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut gap = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(200 + seed % 301)
    };
    let mut direct = Vec::with_capacity(PACED_SAMPLES);
    let mut via = Vec::with_capacity(PACED_SAMPLES);
    let mut header = Vec::with_capacity(PACED_SAMPLES);
    for _ in 0..PACED_SAMPLES {
        tokio::time::sleep(gap()).await;
        direct.push(direct_first_token(&http, &fake.url()).await);
        tokio::time::sleep(gap()).await;
        let (ms, own) = console_first_token(&http, &base, &token).await;
        via.push(ms);
        header.push(own);
    }
    let (pd50, pd99) = summary(direct);
    let (pv50, pv99) = summary(via);
    let (ph50, ph99) = summary(header);
    println!(
        "console chat: time to first token over {PACED_SAMPLES} requests 200-500 ms apart, tokens 60 ms apart"
    );
    println!("  direct to the fake provider   p50 {pd50:7.3} ms   p99 {pd99:7.3} ms");
    println!("  through javari-console        p50 {pv50:7.3} ms   p99 {pv99:7.3} ms");
    println!(
        "  added by the console          p50 {:7.3} ms   p99 {:7.3} ms   (goal: p50 < 1 ms, p99 < 5 ms; no pacing: p50 {:.3} ms, p99 {:.3} ms)",
        pv50 - pd50,
        pv99 - pd99,
        v50 - d50,
        v99 - d99
    );
    println!("  x-javari-overhead-ms header   p50 {ph50:7.3} ms   p99 {ph99:7.3} ms");

    // Concurrent streams: each answer is 20 tokens, one every 500 ms, so streams overlap.
    fake.set_reply((0..20).map(|i| format!(" t{i}")).collect());
    fake.set_token_delay(Duration::from_millis(500));
    let idle = rss_kib(pid);
    for wanted in [500usize, 1000, 2000, 5000] {
        let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let before = rss_kib(pid);
        let mut tasks = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let http = http.clone();
            let base = base.clone();
            let token = token.clone();
            let opened = opened.clone();
            let failed = failed.clone();
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/api/javari/chat"))
                    .bearer_auth(&token)
                    .json(&json!({"message": "hello there", "model": MODEL, "includeKnowledge": false}))
                    .send()
                    .await;
                let Ok(response) = response.and_then(|r| r.error_for_status()) else {
                    failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return;
                };
                let mut body = response.bytes_stream();
                let mut counted = false;
                let mut complete = false;
                let mut seen = Vec::new();
                while let Some(Ok(chunk)) = body.next().await {
                    seen.extend_from_slice(&chunk);
                    if !counted && seen.windows(14).any(|w| w == b"\"type\":\"token\"") {
                        counted = true;
                        opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    if seen.windows(17).any(|w| w == b"\"type\":\"complete\"") {
                        complete = true;
                    }
                }
                if !complete {
                    failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
        let started = Instant::now();
        let mut peak = before;
        while opened.load(std::sync::atomic::Ordering::SeqCst)
            + failed.load(std::sync::atomic::Ordering::SeqCst)
            < wanted
            && started.elapsed() < Duration::from_secs(60)
        {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // All streams are open and mid-answer now.
        let held = opened.load(std::sync::atomic::Ordering::SeqCst);
        let during = rss_kib(pid).max(peak);
        let open_ms = started.elapsed().as_millis();
        for task in tasks {
            let _ = task.await;
        }
        let failures = failed.load(std::sync::atomic::Ordering::SeqCst);
        let per_stream = (during.saturating_sub(before)) as f64 / held.max(1) as f64;
        println!(
            "concurrent streams: {held}/{wanted} held at once (opened in {open_ms} ms), {failures} failed; console RSS {} MiB idle, {} MiB with them: {per_stream:.1} KiB per stream",
            idle / 1024,
            during / 1024
        );
    }
    drop(console);
}
