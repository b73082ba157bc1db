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
/// test's own profile folder on their command line. A watchdog process does the same when
/// the test process ends without unwinding (killed, interrupted, aborted).
struct Driver {
    child: Child,
    profile: std::path::PathBuf,
    watchdog: Option<Child>,
}

/// Waits for the test process (`$1`) to end, then kills chromedriver's group (`$2`) and every
/// process naming the profile folder (`$3`), and removes that folder. An interrupt (Ctrl-C
/// reaches the whole foreground group) ends the wait at once rather than skipping the cleanup.
const WATCHDOG: &str = r#"owner=$1; group=$2; profile=$3
cleanup() {
  kill -KILL -- "-$group" 2>/dev/null
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF -- "$profile"; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
  done
  rm -rf -- "$profile"
}
trap cleanup EXIT
trap 'exit 0' TERM INT HUP
while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done"#;

fn watchdog(group: u32, profile: &std::path::Path) -> Option<Child> {
    Command::new("bash")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("browser-watchdog")
        .arg(std::process::id().to_string())
        .arg(group.to_string())
        .arg(profile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
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
        // Its work is done: ended with TERM, it runs the same cleanup once more and exits.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &watchdog.id().to_string()])
                .status();
            let _ = watchdog.wait();
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
    let watchdog = watchdog(driver.id(), &profile.path);
    let driver = Driver {
        child: driver,
        profile: profile.path.clone(),
        watchdog,
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

const PROBE_RUNBOOK: &str = r#"---
id: probe
title: Probe the web target
severities: [P1, P2]
triggers:
  monitors: ["web-*"]
parameters:
  target: {description: "What to probe", default: "http://127.0.0.1:9/unused"}
  webhook: {description: "The channel"}
---

# Probe the web target

## 1. Count open incidents

```javari
kind: sql
query: SELECT count(*) AS open FROM javari_incidents WHERE status <> 'resolved'
```

## 2. Tell the channel

```javari
kind: notify
webhook: "{{ webhook }}"
text: "probing for {{ incident.id }}"
```

## 3. Look at the dashboards

```javari
kind: manual
checklist:
  - The error rate is back to normal
```
"#;

/// The page's state once it is a loaded run page that this test has not acted on yet.
const RUN_PAGE_STATE: &str = "if (document.readyState !== 'complete' || document.body.dataset.seen \
     || !document.querySelector('#run-status')) return '';\
     const next = document.querySelector('#steps li[data-state=next], #steps li[data-state=failed]');\
     return [document.querySelector('#run-status').textContent, next ? next.dataset.step : '-',\
             document.querySelector('[role=alert]') ? 'alert' : ''].join(' ');";

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn run_a_runbook_from_the_incident_page_in_a_browser(pool: PgPool) {
    use std::sync::{Arc, Mutex};
    let hooks: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = hooks.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let dir = tempdir::Dir::new();
    std::fs::write(dir.path.join("probe.md"), PROBE_RUNBOOK).expect("runbook");
    let mut settings = support::test_settings();
    settings.incidents.runbooks_dir = dir.path.clone();
    let h = Harness::with_settings(pool, settings).await;
    let declared: serde_json::Value = h
        .http
        .post(h.url("/api/javari/incidents"))
        .bearer_auth(&h.operator_token)
        .json(&json!({"title": "web is down", "severity": "P1",
            "source": {"kind": "monitor", "namespace": "prod", "name": "web-health"}}))
        .send()
        .await
        .expect("declare")
        .json()
        .await
        .expect("json");
    let id = declared["incident"]["id"].as_str().expect("id").to_owned();

    let (driver, c, _profile) = browser().await;
    c.goto(&h.url(&format!("/incidents/{id}")))
        .await
        .expect("open the incident");
    for (field, value) in [("#email", "operator@example.test"), ("#password", PASSWORD)] {
        c.find(Locator::Css(field))
            .await
            .expect("field")
            .send_keys(value)
            .await
            .expect("type");
    }
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("sign in");
    // The incident page, with its countdown and the suggested runbook.
    let countdown = wait_until("the incident page", Duration::from_secs(10), async || {
        script_text(
            &c,
            "if (document.readyState !== 'complete' || !document.querySelector('#suggested a[data-runbook=probe]')) return '';\
             return document.querySelector('.countdown').textContent.trim();",
        )
        .await
        .filter(|s| !s.is_empty())
    })
    .await;
    assert!(countdown.ends_with("left"), "{countdown}");
    c.find(Locator::Css("#suggested a[data-runbook=probe]"))
        .await
        .expect("suggested runbook")
        .click()
        .await
        .expect("open the runbook");
    wait_until("the runbook page", Duration::from_secs(10), async || {
        script_text(
            &c,
            "return document.readyState === 'complete' && document.querySelector('#start-run') ? 'ok' : '';",
        )
        .await
        .filter(|s| s == "ok")
    })
    .await;
    c.execute(
        "document.querySelector('input[name=\"param.webhook\"]').value = arguments[0];\
         document.body.dataset.seen = '1'; document.querySelector('#start-run').submit();",
        vec![json!(hook)],
    )
    .await
    .expect("start the run");

    let mut states = Vec::new();
    let mut confirmed_once = false;
    for _ in 0..6 {
        let state = wait_until(
            "the run page after a step",
            Duration::from_secs(15),
            async || {
                script_text(&c, RUN_PAGE_STATE)
                    .await
                    .filter(|s| !s.is_empty())
            },
        )
        .await;
        states.push(state.clone());
        if state.starts_with("succeeded") {
            break;
        }
        // Step 2 changes something: sent once without the box, refused; then confirmed.
        let confirm = state.starts_with("running 2") && confirmed_once;
        confirmed_once |= state.starts_with("running 2");
        c.execute(
            "const box = document.querySelector('#confirm'); if (box && arguments[0]) box.checked = true;\
             document.body.dataset.seen = '1'; document.querySelector('#run-step').submit();",
            vec![json!(confirm)],
        )
        .await
        .expect("run the step");
    }
    assert_eq!(
        states,
        [
            "running 1 ",
            "running 2 ",
            "running 2 alert",
            "running 3 ",
            "succeeded - "
        ],
        "one step at a time, the change confirmed before it ran"
    );
    let hooks = hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(hooks, [json!({"text": format!("probing for {id}")})]);

    // The incident's timeline shows the run, step by step, with the operator.
    c.goto(&h.url(&format!("/incidents/{id}")))
        .await
        .expect("back to the incident");
    let timeline = wait_until("the timeline", Duration::from_secs(10), async || {
        script_text(
            &c,
            "if (document.readyState !== 'complete' || !document.querySelector('#timeline')) return '';\
             return [...document.querySelectorAll('#timeline tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()).join(' | ')).join('\\n');",
        )
        .await
        .filter(|s| !s.is_empty())
    })
    .await;
    for needle in [
        "runbook_started | operator@example.test | runbook probe started",
        "runbook_step | operator@example.test | probe step 1 Count open incidents: succeeded",
        "runbook_step | operator@example.test | probe step 2 Tell the channel: succeeded",
        "runbook_step | operator@example.test | probe step 3 Look at the dashboards: succeeded",
    ] {
        assert!(timeline.contains(needle), "{needle} in\n{timeline}");
    }
    drop(c);
    drop(driver);
}
