//! The schema browser in a real browser (Debian's chromium through chromedriver): sign in,
//! open a table, follow a foreign key to its neighbour, and see the relation diagram.

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
async fn open_a_table_follow_a_foreign_key_and_see_the_diagram(pool: PgPool) {
    let h = Harness::start(pool).await;
    let (driver, c, _profile) = browser().await;

    c.goto(&h.url("/schema/tables/public/javari_sessions"))
        .await
        .expect("open the console");
    c.find(Locator::Css("#email"))
        .await
        .expect("email")
        .send_keys("viewer@example.test")
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
        "signed in and on the table page",
        Duration::from_secs(10),
        async || {
            script_text(
                &c,
                "return location.pathname === '/schema/tables/public/javari_sessions' \
             && document.readyState === 'complete' && document.querySelector('#table-title') \
             ? document.querySelector('#table-title').textContent : '';",
            )
            .await
            .filter(|s| s == "public.javari_sessions")
        },
    )
    .await;

    // The diagram of the sessions table is drawn, with javari_users as a neighbour.
    let boxes = script_text(
        &c,
        "const svg = document.querySelector('#diagram svg'); \
         return svg ? String(svg.querySelectorAll('a').length) + ' ' + \
         (svg.querySelector('a[href=\"/schema/tables/public/javari_users\"]') ? 'users' : '') : '';",
    )
    .await
    .expect("diagram");
    assert!(boxes.ends_with(" users"), "diagram boxes: {boxes}");

    c.find(Locator::Css(
        "#references a.fk[href='/schema/tables/public/javari_users']",
    ))
    .await
    .expect("the foreign key to javari_users")
    .click()
    .await
    .expect("follow it");
    wait_until("on the users table", Duration::from_secs(10), async || {
        script_text(
            &c,
            "return location.pathname === '/schema/tables/public/javari_users' \
             && document.readyState === 'complete' && document.querySelector('#table-title') \
             ? document.querySelector('#table-title').textContent : '';",
        )
        .await
        .filter(|s| s == "public.javari_users")
    })
    .await;
    // The neighbour's diagram shows the tables referencing it, sessions among them, and the
    // browser laid it out (it has a size).
    let seen = script_text(
        &c,
        "const svg = document.querySelector('#diagram svg'); \
         if (!svg) return ''; const r = svg.getBoundingClientRect(); \
         return (r.width > 100 && r.height > 50 ? 'drawn' : 'empty') + ' ' + \
         (svg.querySelector('a[href=\"/schema/tables/public/javari_sessions\"]') ? 'sessions' : 'no-sessions') + ' ' + \
         svg.querySelectorAll('path.e').length;",
    )
    .await
    .expect("diagram");
    let parts: Vec<&str> = seen.split(' ').collect();
    assert_eq!(parts[..2], ["drawn", "sessions"], "{seen}");
    let edges: usize = parts[2].parse().expect("edges");
    assert!(
        edges >= 5,
        "javari_users is referenced by many tables: {edges} edges"
    );
    let _ = c.close().await;
    drop(driver);
}
