//! The chat page in a real browser (Debian's chromium driven through chromedriver): sign in,
//! send a message, watch the tokens arrive one by one and the cost appear, then find the
//! conversation by search.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::PgPool;
use support::{Harness, PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Driver, Client, tempdir::Dir) {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: run `make deps` (or `apt-get install chromium chromium-driver`)"
        );
        let _ = package;
    }
    let port = javari_testenv::free_port().expect("port");
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(driver);
    let profile = tempdir::Dir::new();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.path.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver on {url} did not start a session: {e}"),
        }
    };
    (driver, client, profile)
}

/// A private temporary directory, removed on drop.
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Self {
            let path =
                std::env::temp_dir().join(format!("javari-chromium-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).expect("profile dir");
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn sign_in_chat_stream_and_search_in_a_browser(pool: PgPool) {
    let h = Harness::start(pool).await;
    let reply: Vec<String> = ["The", " zebra", " queue", " is", " drained", " now", "."]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.gemini.set_reply(reply.clone());
    h.gemini.set_token_delay(Duration::from_millis(250));
    let doc = "How are the zebras? The zebras are fine: the zebra queue is drained every night.";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(doc.as_bytes()).file_name("zebras.md"),
    );
    let uploaded = h
        .http
        .post(h.url("/api/javari/knowledge/upload"))
        .bearer_auth(&h.operator_token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status().as_u16(), 201);
    let (_driver, c, _profile) = browser().await;

    c.goto(&h.url("/chat")).await.expect("open the console");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/login"),
        "anonymous: sign-in first"
    );
    c.find(Locator::Css("#email"))
        .await
        .expect("email")
        .send_keys("operator@example.test")
        .await
        .expect("type");
    c.find(Locator::Css("#password"))
        .await
        .expect("password")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("sign in");
    let started = Instant::now();
    while c.current_url().await.expect("url").path() != "/chat" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "signed in and on the chat page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    c.find(Locator::Css("#message"))
        .await
        .expect("message box")
        .send_keys("hello, how are the zebras?")
        .await
        .expect("type");
    c.find(Locator::Css("#send"))
        .await
        .expect("send")
        .click()
        .await
        .expect("send");

    let mut seen: Vec<String> = Vec::new();
    let started = Instant::now();
    let cost = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the answer finished; saw {seen:?}"
        );
        let text: String = c
            .execute(
                "const a = document.querySelector('.msg.assistant .content'); return a ? a.textContent : '';",
                vec![],
            )
            .await
            .expect("read answer")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !text.is_empty() && seen.last() != Some(&text) {
            seen.push(text);
        }
        let cost = c
            .execute(
                "const c = document.querySelector('.msg.assistant .cost'); return c ? c.textContent : '';",
                vec![],
            )
            .await
            .expect("read cost");
        if let Some(cost) = cost.as_str().filter(|c| !c.is_empty()) {
            break cost.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    };
    let full = reply.concat();
    assert_eq!(
        seen.last(),
        Some(&full),
        "the whole answer is shown: {seen:?}"
    );
    assert!(
        seen.len() >= 4,
        "tokens arrived one by one, not all at once: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "each update extends the last: {seen:?}"
        );
    }
    assert!(cost.starts_with('$'), "{cost}");
    let sources: String = c
        .execute(
            "const s = document.querySelector('.msg.assistant .sources'); return s ? s.textContent : '';",
            vec![],
        )
        .await
        .expect("read sources")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        sources.contains("[1] zebras.md"),
        "the answer shows its citation: {sources:?}"
    );
    assert!(
        cost.trim_start_matches('$')
            .parse::<f64>()
            .is_ok_and(|c| c > 0.0),
        "{cost}"
    );

    c.goto(&h.url("/conversations"))
        .await
        .expect("conversations page");
    c.find(Locator::Css("#search"))
        .await
        .expect("search box")
        .send_keys("zebras")
        .await
        .expect("type");
    c.find(Locator::Css("form[role=search] button"))
        .await
        .expect("filter")
        .click()
        .await
        .expect("search");
    // The list before the search shows the conversation too: wait for the search's own page
    // (its URL), then read the link in one script call, so no element can go stale between
    // finding and reading it.
    let started = Instant::now();
    let href = loop {
        let searched = c
            .current_url()
            .await
            .expect("url")
            .query()
            .unwrap_or_default()
            .contains("search=zebras");
        let href = c
            .execute(
                "const a = document.querySelector('#conversations tbody a'); return a ? a.getAttribute('href') : '';",
                vec![],
            )
            .await
            // A script may fail while the page navigates: try again.
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if searched && !href.is_empty() {
            break href;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the conversation is found by search"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(href.starts_with("/chat?c="), "{href}");
    c.close().await.expect("close the browser");
}
