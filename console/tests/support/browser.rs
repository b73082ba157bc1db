//! The real browser for the console's browser tests (Debian's chromium through chromedriver):
//! started per test, killed on every exit path, with condition waits that have deadlines.
// Each browser test uses a different part of it.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::{Harness, PASSWORD};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and every Chromium process it started, killed when dropped: at the end of the
/// test, and on a panic (unwinding drops it) as well. chromedriver runs in a process group of
/// its own, which the browser inherits; processes that left the group are found by the
/// test's own profile folder on their command line. A watchdog process does the same when
/// the test process ends without unwinding (killed, interrupted, aborted).
pub struct Driver {
    pub child: Child,
    pub profile: std::path::PathBuf,
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
pub fn processes_using(profile: &std::path::Path) -> Vec<u32> {
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
pub async fn wait_until<T>(
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
pub async fn script_text(c: &Client, script: &str) -> Option<String> {
    c.execute(script, vec![])
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
}

pub async fn browser() -> (Driver, Client, tempdir::Dir) {
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
pub mod tempdir {
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

/// Signs `email` in through the form and waits until the browser is on `next`.
pub async fn sign_in_as(c: &Client, h: &Harness, email: &str, next: &str) {
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

/// Signs out with the header's button and waits for the sign-in page.
pub async fn sign_out(c: &Client) {
    c.find(Locator::Css(".who button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("sign out");
    wait_until("signed out", Duration::from_secs(10), async || {
        script_text(
            c,
            "return location.pathname.startsWith('/login') ? 'out' : '';",
        )
        .await
        .filter(|s| s == "out")
    })
    .await;
}

/// How many action buttons the page shows.
pub async fn action_buttons(c: &Client) -> Option<String> {
    script_text(
        c,
        "return String(document.querySelectorAll('form.action button').length);",
    )
    .await
}

/// Posts an action form to `path` from the page, with the page's CSRF token (as a viewer
/// who made the button up would); the HTTP status.
pub async fn post_action_from_page(c: &Client, path: &str) -> String {
    c.execute_async(
        &format!(
            "const done = arguments[arguments.length - 1]; \
             const csrf = document.querySelector('input[name=csrf_token]').value; \
             fetch('{path}', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, \
               body: 'csrf_token=' + encodeURIComponent(csrf)}}).then(r => done(String(r.status)));"
        ),
        vec![],
    )
    .await
    .expect("post from the page")
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Closes the browser and waits until none of its processes is left.
pub async fn close(c: Client, driver: Driver) {
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
