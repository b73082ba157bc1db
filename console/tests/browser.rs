//! The chat page in a real browser (Debian's chromium driven through chromedriver): sign in,
//! send a message, watch the tokens arrive one by one and the cost appear, then find the
//! conversation by search.

#[path = "support/browser.rs"]
mod browser_harness;
mod support;

use std::time::Duration;

use browser_harness::{
    action_buttons, browser, close, post_action_from_page, script_text, sign_in_as, sign_out,
    tempdir, wait_until,
};
use fantoccini::{Client, Locator};
use serde_json::json;
use sqlx::PgPool;
use support::{Harness, PASSWORD};

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
        .unwrap_or_default()
        // The finished answer is swapped for the server's Markdown rendering, whose text
        // ends with the paragraph's newline.
        .trim_end()
        .to_owned();
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
    close(c, driver).await;
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
    sign_out(&c).await;
    let project = format!("/projects/{ns}/web");
    sign_in_as(&c, &h, &h.viewer.email, &project).await;
    assert_eq!(
        action_buttons(&c).await.as_deref(),
        Some("0"),
        "a viewer sees no action buttons"
    );
    let status = post_action_from_page(&c, &format!("{project}/rollback")).await;
    assert_eq!(status, "403");

    close(c, driver).await;
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
    settings.incidents.runbooks_dir = Some(dir.path.clone());
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
