//! `/api/health` on a real PostgreSQL: 200 while it is up, 503 once it is stopped.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use javari_console::{AppState, app};
use javari_testenv::PgCluster;
use tower::ServiceExt;

async fn get(router: &axum::Router, path: &str) -> (StatusCode, String) {
    get_as(router, path, None).await
}

async fn get_as(router: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn api_health_follows_the_database() {
    let pg = PgCluster::ephemeral().expect("private PostgreSQL");
    let url = pg.url("postgres");
    let owner = javari_core::db::connect(&url, 4).await.expect("connect");
    javari_core::db::migrate(&owner).await.expect("migrate");
    // The console runs as the runtime role, as installed.
    let pool = javari_testenv::runtime_pool(&owner)
        .await
        .expect("runtime role");
    let router = app(AppState::new(pool.clone()));
    let viewer = javari_console::auth::create_user(
        &pool,
        "viewer@example.test",
        "a long enough password",
        javari_console::auth::Role::Viewer,
    )
    .await
    .expect("user");
    let token = javari_console::auth::create_token(
        &pool,
        &viewer,
        "prometheus",
        javari_console::auth::Role::Viewer,
    )
    .await
    .expect("token")
    .token;

    let (status, body) = get(&router, "/api/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["checks"]["database"]["status"], "healthy");
    assert!(json["checks"]["database"]["latency"].is_u64(), "{json}");
    assert!(
        json["timestamp"].as_str().is_some_and(|t| t.contains('T')),
        "{json}"
    );
    assert_eq!(json["version"], javari_core::VERSION);

    pg.stop().expect("stop PostgreSQL");

    let (status, body) = get(&router, "/api/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "unhealthy");
    assert_eq!(json["checks"]["database"]["status"], "unhealthy");
    assert!(json["checks"]["database"]["error"].is_string(), "{json}");
    assert!(
        !body.contains(&pg.port().to_string()),
        "no connection details leak: {body}"
    );

    // Liveness does not depend on the database.
    let (status, _) = get(&router, "/healthz").await;
    assert_eq!(status, StatusCode::OK);

    pg.start().expect("restart PostgreSQL");
    let (status, body) = get(&router, "/api/health").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "recovers once the database is back: {body}"
    );

    let (status, _) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "metrics need a token");
    let (status, metrics) = get_as(&router, "/metrics", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(
            r#"javari_console_http_requests_total{method="GET",route="/api/health",status="503"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn console_binary_serves_health_and_refuses_an_unreachable_database() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = javari_testenv::fresh_database().await.expect("database");
    let port = javari_testenv::free_port().expect("port");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_javari-console"))
        .env("DATABASE_URL", &url)
        .env("JAVARI_CONSOLE_LISTEN", format!("127.0.0.1:{port}"))
        .env("JAVARI_ADMIN_EMAIL", "first@example.test")
        .env("JAVARI_ADMIN_PASSWORD", "first admin password")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn console");
    let started = std::time::Instant::now();
    let status = loop {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/api/health")).await {
            break response.status();
        }
        assert!(started.elapsed().as_secs() < 60, "console did not start");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    // The first admin from configuration, with an argon2id hash.
    let pool = javari_core::db::connect(&url, 1).await.expect("connect");
    let (role, hash): (String, String) = sqlx::query_as(
        "SELECT role, password_hash FROM javari_users WHERE email = 'first@example.test'",
    )
    .fetch_one(&pool)
    .await
    .expect("first admin created");
    assert_eq!(role, "admin");
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // A dead database at start-up: a clear error, non-zero exit, and no password in it.
    let dead = format!(
        "postgres://javari:s3cret-pw@127.0.0.1:{}/javari",
        javari_testenv::free_port().expect("port")
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_javari-console"))
        .env("DATABASE_URL", &dead)
        .env("JAVARI_CONSOLE_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run console");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot connect to PostgreSQL at 127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "password leaked: {stderr}");
}
