//! The chat page in a real browser (Debian's chromium driven through chromedriver): sign in,
//! send a message, watch the tokens arrive one by one and the cost appear, then find the
//! conversation by search.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::PgPool;
use support::{Harness, PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and every Chromium process it started, killed when dropped: at the end of the
/// test, and on a panic (unwinding drops it) as well. chromedriver runs in a process group of
/// its own, which the browser inherits; processes that left the group are found by the
/// test's own profile folder on their command line.
struct Driver {
    child: Child,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in processes_using(&self.profile) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Processes whose command line names `profile` (this test's Chromium, and only it).
fn processes_using(profile: &std::path::Path) -> Vec<u32> {
    let needle = profile.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

/// Polls `check` until it gives a value, failing with `what` after `limit`.
async fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// A string from a script run in the page, or `None` while a navigation replaces it.
async fn script_text(c: &Client, script: &str) -> Option<String> {
    c.execute(script, vec![])
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
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
    let profile = tempdir::Dir::new();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child: driver,
        profile: profile.path.clone(),
    };
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
    let client = wait_until(
        &format!("chromedriver on {url} starts a session"),
        Duration::from_secs(20),
        async || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
                .ok()
        },
    )
    .await;
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
    let (driver, c, _profile) = browser().await;

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
    wait_until(
        "signed in and on a loaded chat page",
        Duration::from_secs(10),
        async || {
            script_text(
                &c,
                "return location.pathname === '/chat' && document.readyState === 'complete' \
                 && document.querySelector('#message') ? 'ready' : '';",
            )
            .await
            .filter(|s| s == "ready")
        },
    )
    .await;

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
    let cost = wait_until("the answer finished", Duration::from_secs(20), async || {
        let text = script_text(
            &c,
            "const a = document.querySelector('.msg.assistant .content'); return a ? a.textContent : '';",
        )
        .await
        .unwrap_or_default();
        if !text.is_empty() && seen.last() != Some(&text) {
            seen.push(text);
        }
        script_text(
            &c,
            "const c = document.querySelector('.msg.assistant .cost'); return c ? c.textContent : '';",
        )
        .await
        .filter(|c| !c.is_empty())
    })
    .await;
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
    // The page before the search lists the conversation too: an element found there goes
    // stale when the search's page replaces it. So the link is read in one script, and only
    // from the loaded page whose address carries the search.
    let href = wait_until(
        "the conversation is found by search",
        Duration::from_secs(10),
        async || {
            script_text(
                &c,
                "if (!new URLSearchParams(location.search).get('search') \
                     || document.readyState !== 'complete') return '';\
                 const a = document.querySelector('#conversations tbody a');\
                 return a ? a.getAttribute('href') : '';",
            )
            .await
            .filter(|h| !h.is_empty())
        },
    )
    .await;
    assert!(href.starts_with("/chat?c="), "{href}");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .query()
            .unwrap_or_default()
            .contains("search=zebras")
    );
    c.close().await.expect("close the browser");
    let profile = driver.profile.clone();
    drop(driver);
    wait_until(
        "no browser process is left",
        Duration::from_secs(10),
        async || processes_using(&profile).is_empty().then_some(()),
    )
    .await;
}

async fn sign_in_as(c: &Client, h: &Harness, email: &str, next: &str) {
    c.goto(&h.url(&format!("/login?next={next}")))
        .await
        .expect("sign-in page");
    c.find(Locator::Css("#email"))
        .await
        .expect("email")
        .send_keys(email)
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
    let next = next.to_owned();
    wait_until(
        &format!("{email} signed in and on {next}"),
        Duration::from_secs(10),
        async || {
            script_text(
                c,
                &format!(
                    "return location.pathname === '{next}' && document.readyState === 'complete' ? 'ready' : '';"
                ),
            )
            .await
            .filter(|s| s == "ready")
        },
    )
    .await;
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = javari_testenv::workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    std::fs::write(dir.join(name), &png).expect("write screenshot");
    assert!(png.len() > 1000, "{name} is an image");
}

/// The on-call pages in a real browser: the overview shows a Down Monitor (live tiles on),
/// its page, screenshots of both; an operator rolls a Project back from its page and sees
/// who asked; a viewer sees no button and is refused (403) when posting the form anyway.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn overview_resources_and_actions_in_a_browser(pool: PgPool) {
    let (client, ns) = support::cluster::cluster().await;
    support::cluster::fixtures(&client, &ns).await;
    let now = chrono::Utc::now();
    let rows: Vec<javari_core::monitors::CheckRow> = (0..120)
        .map(|i| javari_core::monitors::CheckRow {
            namespace: ns.clone(),
            monitor: "web-health".to_owned(),
            target: "http://web/api/health".to_owned(),
            passed: i > 3,
            response_time_ms: Some(80 + (i * 7) % 200),
            status_code: Some(if i > 3 { 200 } else { 503 }),
            error: (i <= 3).then(|| "[STATUS] == 200 (got 503)".to_owned()),
            checked_at: now - chrono::TimeDelta::minutes(i64::from(10 * i)),
        })
        .collect();
    javari_core::monitors::insert_checks(&pool, &rows)
        .await
        .expect("checks");
    let h = Harness::with_kube(pool, support::cluster::settings(), Some(client)).await;
    let (driver, c, _profile) = browser().await;
    c.set_window_size(1280, 1000).await.expect("window size");

    sign_in_as(&c, &h, &h.operator.email, "/").await;
    let monitor = format!("{ns}/web-health");
    wait_until(
        "the overview lists the Down Monitor and live tiles replaced the fragment",
        Duration::from_secs(20),
        async || {
            script_text(
                &c,
                "const t = document.querySelector('#tiles'); \
                 return t && t.getAttribute('data-updated') ? t.textContent : '';",
            )
            .await
            .filter(|text| text.contains(&monitor) && text.contains("Major outage"))
        },
    )
    .await;
    screenshot(&c, "overview.png").await;

    c.goto(&h.url(&format!("/monitors/{ns}/web-health")))
        .await
        .expect("monitor page");
    let state = wait_until("the Monitor page", Duration::from_secs(10), async || {
        script_text(
            &c,
            "const s = document.querySelector('#monitor-state'); return s ? s.textContent : '';",
        )
        .await
        .filter(|s| !s.is_empty())
    })
    .await;
    assert_eq!(state, "Major outage");
    screenshot(&c, "monitor.png").await;

    c.goto(&h.url(&format!("/projects/{ns}/web")))
        .await
        .expect("project page");
    c.find(Locator::Css("#action-rollback"))
        .await
        .expect("the operator has a roll back button")
        .click()
        .await
        .expect("roll back");
    let who = wait_until(
        "the roll back is requested and shown with who asked",
        Duration::from_secs(10),
        async || {
            script_text(
                &c,
                "if (!location.search.includes('notice=rollback') || document.readyState !== 'complete') return ''; \
                 const w = document.querySelector('.requested-by'); \
                 return w && document.body.textContent.includes('RollbackRequested') ? w.textContent : '';",
            )
            .await
            .filter(|w| !w.is_empty())
        },
    )
    .await;
    assert!(who.starts_with("operator@example.test: rollback"), "{who}");

    // Sign out; the viewer sees no button, and posting the form anyway is refused.
    c.find(Locator::Css(".who button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("sign out");
    wait_until("signed out", Duration::from_secs(10), async || {
        script_text(
            &c,
            "return location.pathname.startsWith('/login') ? 'out' : '';",
        )
        .await
        .filter(|s| s == "out")
    })
    .await;
    let project = format!("/projects/{ns}/web");
    sign_in_as(&c, &h, &h.viewer.email, &project).await;
    let buttons = script_text(
        &c,
        "return String(document.querySelectorAll('form.action button').length);",
    )
    .await;
    assert_eq!(
        buttons.as_deref(),
        Some("0"),
        "a viewer sees no action buttons"
    );
    let status = c
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1]; \
                 const csrf = document.querySelector('input[name=csrf_token]').value; \
                 fetch('{project}/rollback', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, \
                   body: 'csrf_token=' + encodeURIComponent(csrf)}}).then(r => done(String(r.status)));"
            ),
            vec![],
        )
        .await
        .expect("post as a viewer");
    assert_eq!(status.as_str(), Some("403"));

    c.close().await.expect("close the browser");
    let profile = driver.profile.clone();
    drop(driver);
    wait_until(
        "no browser process is left",
        Duration::from_secs(10),
        async || processes_using(&profile).is_empty().then_some(()),
    )
    .await;
}
