//! `make bench` (console, part two): the console's peak memory while three 10 MiB hostile
//! uploads (deep JSON with long keys over 3 million values, a CSV with a wide header of long
//! names, a PDF decompression bomb) and 50 streamed answers (fake provider) run at once.
//! Prints each upload's answer and the console's peak RSS (VmHWM); asserts nothing about it.

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
const STREAMS: usize = 50;
const MIB: usize = 1024 * 1024;

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_mib(pid: u32, field: &str) -> f64 {
    javari_testenv::proc_status_kib(pid, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

/// 100 nested objects under 40 KB keys, around an array of zeros: 10 MiB.
fn deep_json() -> Vec<u8> {
    let depth = 100;
    let mut json = String::with_capacity(10 * MIB);
    for level in 0..depth {
        json.push_str(&format!("{{\"{}{level}\":", "k".repeat(40_000)));
    }
    json.push('[');
    while json.len() < 10 * MIB - depth - 8 {
        json.push_str("0,");
    }
    json.push_str("0]");
    json.push_str(&"}".repeat(depth));
    json.into_bytes()
}

/// 20,000 columns named with 200 characters each, then rows of ones: 10 MiB.
fn wide_csv() -> Vec<u8> {
    let columns = 20_000;
    let header: Vec<String> = (0..columns)
        .map(|i| format!("{}{i}", "c".repeat(200)))
        .collect();
    let mut csv = header.join(",");
    let row = vec!["1"; columns].join(",");
    while csv.len() + row.len() + 1 < 10 * MIB {
        csv.push('\n');
        csv.push_str(&row);
    }
    csv.into_bytes()
}

/// A zlib stream of `copies × 258 + 1` spaces, written by hand (one fixed-Huffman block).
fn spaces_zlib(copies: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut bits) = (0u8, 0u32);
    let mut put = |value: u32, n: u32, reversed: bool, out: &mut Vec<u8>| {
        for i in 0..n {
            let bit = if reversed {
                (value >> (n - 1 - i)) & 1
            } else {
                (value >> i) & 1
            };
            acc |= (bit as u8) << bits;
            bits += 1;
            if bits == 8 {
                out.push(acc);
                (acc, bits) = (0, 0);
            }
        }
    };
    put(1, 1, false, &mut out);
    put(1, 2, false, &mut out);
    put(0x30 + u32::from(b' '), 8, true, &mut out);
    for _ in 0..copies {
        put(0xC5, 8, true, &mut out);
        put(0, 5, true, &mut out);
    }
    put(0, 7, true, &mut out);
    put(0, 7, false, &mut out);
    out
}

/// A PDF whose page content inflates to about 1.5 GiB of spaces, in under 10 MiB.
fn bomb_pdf() -> Vec<u8> {
    let data = spaces_zlib((3 << 29) / 258);
    let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
        2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
        3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
        .to_vec();
    pdf.extend_from_slice(
        format!(
            "4 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&data);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    pdf
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
    fake.set_reply((0..40).map(|i| format!(" token{i}")).collect());
    fake.set_token_delay(Duration::from_millis(50));
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
            // All three uploads at once (the default lets two in and answers the third 503).
            .env("JAVARI_UPLOAD_CONCURRENCY", "3")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start javari-console"),
    );
    let pid = console.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "console did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = status_mib(pid, "VmRSS:");

    let uploads = [
        ("deep.json", deep_json()),
        ("wide.csv", wide_csv()),
        ("bomb.pdf", bomb_pdf()),
    ];
    let mut tasks = Vec::new();
    for (name, bytes) in uploads {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let size = bytes.len();
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
            let started = Instant::now();
            let response = http
                .post(format!("{base}/api/javari/knowledge/upload"))
                .bearer_auth(&token)
                .multipart(form)
                .send()
                .await;
            let answer = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    let what = body["error"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("{} chunks", body["document"]["chunk_count"]));
                    format!("HTTP {status}: {what}")
                }
                Err(e) => format!("failed: {e}"),
            };
            format!(
                "  {name:9} {:.1} MiB -> {answer} ({:.1} s)",
                size as f64 / MIB as f64,
                started.elapsed().as_secs_f64()
            )
        }));
    }
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        streams.push(tokio::spawn(async move {
            let Ok(response) = http
                .post(format!("{base}/api/javari/chat"))
                .bearer_auth(&token)
                .json(&json!({"message": "hello there", "model": MODEL, "includeKnowledge": false}))
                .send()
                .await
            else {
                return false;
            };
            let mut body = response.bytes_stream();
            let mut seen = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                seen.extend_from_slice(&chunk);
            }
            seen.windows(17).any(|w| w == b"\"type\":\"complete\"")
        }));
    }
    let mut lines = Vec::new();
    for task in tasks {
        lines.push(task.await.expect("upload task"));
    }
    let mut completed = 0;
    for stream in streams {
        if stream.await.unwrap_or(false) {
            completed += 1;
        }
    }
    println!("console under hostile uploads: 3 uploads and {STREAMS} streamed answers at once");
    for line in lines {
        println!("{line}");
    }
    println!("  {completed}/{STREAMS} answers streamed to the end");
    println!(
        "  javari-console RSS idle {idle:.1} MiB, peak {:.1} MiB (goal: under 256 MiB, the chart's limit)",
        status_mib(pid, "VmHWM:")
    );
    drop(console);
}
