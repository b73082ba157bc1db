//! `make bench` (sign-in): 200 parallel sign-ins against a running `javari-console` — made-up
//! emails from one address, made-up emails from 200 addresses, and the admin's email with
//! wrong passwords from 200 addresses (each a real argon2 check) — while the admin signs in
//! from an address of their own. Prints the statuses, the admin's result and the console's
//! peak RSS (VmHWM); asserts nothing about speed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin@bench.test";
const PASSWORD: &str = "bench admin password 1234";
const FLOOD: usize = 200;
/// The chart's memory limit for the console.
const LIMIT_MIB: u64 = 256;

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    javari_testenv::proc_status_kib(pid, field).unwrap_or(0)
}

fn client(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

/// The sign-in page's cookie pair and form token.
async fn form(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let html = page.text().await.expect("html");
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("token") + marker.len();
    (
        cookie,
        html[start..].split('"').next().expect("value").to_owned(),
    )
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    form: &(String, String),
    email: &str,
    password: &str,
) -> u16 {
    http.post(format!("{base}/login"))
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", form.1.as_str()),
        ])
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// One flood: `FLOOD` sign-ins at once from `addresses`, the admin signing in meanwhile
/// (retrying after Retry-After on 503). Prints what happened.
async fn flood(base: &str, pid: u32, name: &str, addresses: Vec<String>, email: Option<&str>) {
    let mut forms = Vec::new();
    for a in &addresses {
        let http = client(a);
        let f = form(&http, base).await;
        forms.push((http, f));
    }
    let admin_http = client("127.0.0.250");
    let admin_form = form(&admin_http, base).await;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        let (http, f) = forms[i % forms.len()].clone();
        let base = base.to_owned();
        let email = email
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}@random.test", uuid::Uuid::new_v4()));
        tasks.push(tokio::spawn(async move {
            sign_in(&http, &base, &f, &email, "wrong password 123").await
        }));
    }
    // The admin, while the flood is in flight.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let admin_started = Instant::now();
    let mut tries = 0;
    let admin = loop {
        tries += 1;
        let s = sign_in(&admin_http, base, &admin_form, ADMIN, PASSWORD).await;
        if s != 503 || tries == 5 {
            break s;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let admin_ms = admin_started.elapsed().as_secs_f64() * 1000.0;
    let mut statuses = BTreeMap::<u16, usize>::new();
    let mut in_flight_at_admin = 0;
    for task in tasks {
        if !task.is_finished() {
            in_flight_at_admin += 1;
        }
        *statuses.entry(task.await.expect("task")).or_default() += 1;
    }
    let total_ms = started.elapsed().as_millis();
    let peak = status_kib(pid, "VmHWM:") / 1024;
    println!("sign-in flood: {name}");
    println!("  {FLOOD} parallel sign-ins in {total_ms} ms: statuses {statuses:?}");
    println!(
        "  admin from another address: HTTP {admin} after {tries} tries, {admin_ms:.0} ms ({in_flight_at_admin} flood requests still unanswered when it finished)"
    );
    println!(
        "  console peak RSS (VmHWM) so far: {peak} MiB (limit {LIMIT_MIB} MiB: {})",
        if peak < LIMIT_MIB { "under" } else { "OVER" }
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = javari_testenv::fresh_database()
        .await
        .expect("a fresh database (run via `make bench`)");
    let port = javari_testenv::free_port().expect("port");
    let console = Console(
        Command::new(env!("CARGO_BIN_EXE_javari-console"))
            .env("DATABASE_URL", &url)
            .env("JAVARI_CONSOLE_LISTEN", format!("127.0.0.1:{port}"))
            .env("JAVARI_ADMIN_EMAIL", ADMIN)
            .env("JAVARI_ADMIN_PASSWORD", PASSWORD)
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
    println!(
        "sign-in bench: console idle RSS {} MiB (settings: 4 password checks at once, 32 waiting)",
        status_kib(pid, "VmRSS:") / 1024
    );
    flood(
        &base,
        pid,
        "made-up emails from one address",
        vec!["127.0.0.1".into()],
        None,
    )
    .await;
    let many: Vec<String> = (1..=FLOOD).map(|i| format!("127.0.2.{i}")).collect();
    flood(
        &base,
        pid,
        "made-up emails from 200 addresses",
        many.clone(),
        None,
    )
    .await;
    let many: Vec<String> = (1..=FLOOD).map(|i| format!("127.0.3.{i}")).collect();
    flood(
        &base,
        pid,
        "the admin's email, wrong passwords, from 200 addresses (argon2 each)",
        many,
        Some(ADMIN),
    )
    .await;
    drop(console);
}
