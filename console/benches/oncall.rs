//! `make bench` (on-call pages): 1,000 Monitors (real objects on a local kube-apiserver, ten
//! of them public) with 10 million generated check rows (`generate_series`: every Monitor
//! every 10 s for the last ~28 hours), rolled up by the job, plus 90 days of hourly rollups
//! (rolled up into daily rows by the job) and daily rows back to two years. Prints the server time
//! (p50/p99 over sequential requests on loopback, measured by the client) of the overview, a
//! Monitor's page and a badge (cold: cache off; warm: the default 15 s cache), and the
//! rollup job's time for one hour of 1,000 Monitors at 10 s. Sizes: `BENCH_MONITORS`,
//! `BENCH_CHECKS_PER_MONITOR`. Asserts nothing about speed.

use std::time::{Duration, Instant};

use javari_console::auth::{Role, create_token, create_user};
use javari_console::{AppState, Settings, app};
use javari_crds::Monitor;
use javari_testenv::{ControlPlane, fresh_database};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let mut request = http.get(url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let started = Instant::now();
        let response = request.send().await.expect("request");
        let status = response.status();
        let _ = response.bytes().await.expect("body");
        assert!(status.is_success(), "{url}: {status}");
        // The first few warm connections and caches up.
        if i >= 5 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

#[tokio::main]
async fn main() {
    javari_core::http::install_crypto_provider();
    let monitors = env_or("BENCH_MONITORS", 1000);
    let per_monitor = env_or("BENCH_CHECKS_PER_MONITOR", 10_000);
    let url = fresh_database()
        .await
        .expect("database (run with `make bench`)");
    let pool = javari_core::db::connect(&url, 10).await.expect("connect");
    javari_core::db::migrate(&pool).await.expect("migrate");

    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let api: Api<Monitor> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    for m in 0..monitors {
        let mut labels = serde_json::Map::new();
        if m < 10 {
            labels.insert("javari.ai/status-page".into(), json!("public"));
        }
        let monitor: Monitor = serde_json::from_value(json!({
            "apiVersion": "javari.ai/v1alpha1", "kind": "Monitor",
            "metadata": {"name": format!("m-{m:04}"), "labels": labels},
            "spec": {"url": "http://127.0.0.1:9/health", "interval": "10s", "request": {"timeout": "5s"}}
        }))
        .expect("monitor");
        api.create(&PostParams::default(), &monitor)
            .await
            .expect("create monitor");
    }
    println!(
        "{monitors} Monitors created in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    sqlx::query(
        "INSERT INTO javari_health_checks (monitor_namespace, monitor_name, target, status, response_time_ms, status_code, checked_at) \
         SELECT $1, 'm-' || lpad(m::text, 4, '0'), 'http://127.0.0.1:9/health', \
                CASE WHEN random() < 0.01 THEN 'down' ELSE 'up' END, (20 + random() * 400)::int, 200, \
                now() - s * interval '10 seconds' - m * interval '7 milliseconds' \
         FROM generate_series(0, $2 - 1) AS m, generate_series(1, $3) AS s",
    )
    .bind(&ns)
    .bind(monitors)
    .bind(per_monitor)
    .execute(&pool)
    .await
    .expect("generate checks");
    println!(
        "{} check rows generated in {:.1} s",
        monitors * per_monitor,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let report = javari_core::history::rollup_once(&pool, chrono::Utc::now(), Default::default())
        .await
        .expect("rollup")
        .expect("lock");
    println!(
        "first rollup: {} hours, {} hourly rows, {} days in {:.1} s",
        report.hours,
        report.hourly_rows,
        report.days,
        started.elapsed().as_secs_f64()
    );
    // 90 days of older hourly rows, as the job leaves them.
    // 360 checks an hour, 72 at each of five response times (mean 218 ms).
    let hourly = {
        let mut h = javari_core::history::Histogram::empty();
        for ms in [50, 120, 200, 300, 420] {
            for _ in 0..72 {
                h.record(ms);
            }
        }
        h
    };
    let histogram = hourly.to_pg_literal();
    sqlx::query(
        "INSERT INTO javari_health_check_hourly (monitor_namespace, monitor_name, hour, checks, up, response_sum_ms, response_count, histogram) \
         SELECT $1, 'm-' || lpad(m::text, 4, '0'), date_trunc('hour', now()) - h * interval '1 hour', 360, 356, 360 * 218, 360, $3::int[] \
         FROM generate_series(0, $2 - 1) AS m, generate_series(30, 90 * 24) AS h ON CONFLICT DO NOTHING",
    )
    .bind(&ns)
    .bind(monitors)
    .bind(&histogram)
    .execute(&pool)
    .await
    .expect("hourly rows");
    // Daily rows as the job makes them: the days of the hourly rows rolled up again (from the
    // start), then older days (up to two years) in the same shape.
    sqlx::query("UPDATE javari_health_rollup_state SET daily_until = NULL")
        .execute(&pool)
        .await
        .expect("rewind days");
    let started = Instant::now();
    let report = javari_core::history::rollup_once(&pool, chrono::Utc::now(), Default::default())
        .await
        .expect("rollup")
        .expect("lock");
    println!(
        "daily rollup of the hourly rows: {} days, {} daily rows in {:.1} s",
        report.days,
        report.daily_rows,
        started.elapsed().as_secs_f64()
    );
    let daily_histogram =
        javari_core::history::Histogram(hourly.0.iter().map(|c| c * 24).collect()).to_pg_literal();
    sqlx::query(
        "INSERT INTO javari_health_check_daily (monitor_namespace, monitor_name, day, checks, up, response_sum_ms, response_count, histogram) \
         SELECT $1, 'm-' || lpad(m::text, 4, '0'), (now() AT TIME ZONE 'UTC')::date - d, 24 * 360, 24 * 356, 24 * 360 * 218, 24 * 360, $3::int[] \
         FROM generate_series(0, $2 - 1) AS m, generate_series(91, 729) AS d ON CONFLICT DO NOTHING",
    )
    .bind(&ns)
    .bind(monitors)
    .bind(&daily_histogram)
    .execute(&pool)
    .await
    .expect("daily rows");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM javari_health_checks), (SELECT count(*) FROM javari_health_check_hourly), \
                (SELECT count(*) FROM javari_health_check_daily)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    println!(
        "rows: {} raw, {} hourly, {} daily",
        counts.0, counts.1, counts.2
    );
    sqlx::query("ANALYZE")
        .execute(&pool)
        .await
        .expect("analyze");

    // The job's time for one hour of every Monitor at 10 s (360 checks each).
    let mut runs = Vec::new();
    for _ in 0..3 {
        sqlx::query(
            "UPDATE javari_health_rollup_state SET hourly_until = hourly_until - interval '1 hour'",
        )
        .execute(&pool)
        .await
        .expect("rewind");
        let started = Instant::now();
        let r = javari_core::history::rollup_once(&pool, chrono::Utc::now(), Default::default())
            .await
            .expect("rollup")
            .expect("lock");
        runs.push((started.elapsed(), r.hourly_rows));
    }
    for (t, rows) in &runs {
        println!(
            "rollup of one hour: {rows} hourly rows in {} ms",
            t.as_millis()
        );
    }

    let user = create_user(
        &pool,
        "bench@bench.test",
        "bench password 1234",
        Role::Viewer,
    )
    .await
    .expect("user");
    let token = create_token(&pool, &user, "bench", Role::Viewer)
        .await
        .expect("token")
        .token;
    let http = reqwest::Client::new();
    for (label, ttl) in [
        ("cold (no cache)", Duration::ZERO),
        ("warm (15 s cache)", Duration::from_secs(15)),
    ] {
        let settings = Settings {
            status_cache_ttl: ttl,
            ..Settings::default()
        };
        let state = AppState::with_settings(pool.clone(), settings, None).with_kube(client.clone());
        let base = serve(state).await;
        let n = 100;
        let (p50, p99) = measure(&http, &format!("{base}/"), Some(&token), n).await;
        println!(
            "overview {label}: p50 {} ms, p99 {} ms",
            p50.as_millis(),
            p99.as_millis()
        );
        let (p50, p99) = measure(
            &http,
            &format!("{base}/monitors/{ns}/m-0500"),
            Some(&token),
            n,
        )
        .await;
        println!(
            "monitor page {label}: p50 {} ms, p99 {} ms",
            p50.as_millis(),
            p99.as_millis()
        );
        let (p50, p99) = measure(
            &http,
            &format!("{base}/badges/{ns}/m-0003/uptime-24h.svg"),
            None,
            n,
        )
        .await;
        println!(
            "uptime badge {label}: p50 {} ms, p99 {} ms",
            p50.as_millis(),
            p99.as_millis()
        );
    }
}
