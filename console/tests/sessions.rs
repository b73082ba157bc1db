//! Sessions and API tokens: expiry, last use written off the request path, listing and
//! revocation (API and page), pruning on a schedule by one replica at a time, and the
//! in-memory cache kept current through PostgreSQL notifications — a revocation on one
//! console is refused by another at once, also after its listener reconnects.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use javari_console::AppState;
use javari_console::auth::{PRUNE_LOCK, Role, create_token_expiring, prune_once, start_pruning};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::forms::{client_from, page_csrf, sign_in};
use support::{Harness, serve, test_settings};

/// Waits for `condition` (polled every 20 ms) up to `secs` seconds.
async fn wait_for<F, Fut>(what: &str, secs: u64, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(secs), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(
    http: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    cookie: Option<&str>,
) -> u16 {
    let mut request = http.get(url);
    if let Some(t) = bearer {
        request = request.bearer_auth(t);
    }
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    request.send().await.expect("request").status().as_u16()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn tokens_expire_and_are_listed_and_revoked(pool: PgPool) {
    let h = Harness::start(pool).await;
    let create = |body: Value| {
        h.http
            .post(h.url("/api/tokens"))
            .bearer_auth(&h.admin_token)
            .json(&body)
            .send()
    };
    for days in [0, 366] {
        let r = create(json!({"name": "x", "expiresInDays": days}))
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 400, "{days} days");
        assert!(
            r.text()
                .await
                .expect("body")
                .contains("expiresInDays must be 1 to 365")
        );
    }
    let created: Value = create(json!({"name": "deploy", "role": "operator", "expiresInDays": 7}))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let secret = created["token"].as_str().expect("token").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    let expires: chrono::DateTime<chrono::Utc> = created["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("time");
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((7 * 24 - 1..=7 * 24).contains(&days), "{days} hours");
    let default: Value = create(json!({"name": "default"}))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let default_expires: chrono::DateTime<chrono::Utc> = default["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("time");
    assert_eq!(
        (default_expires - chrono::Utc::now()).num_days(),
        89,
        "90 days by default"
    );

    assert_eq!(
        status(&h.http, h.url("/api/me"), Some(&secret), None).await,
        200
    );
    // Last use is noted in memory and written in one batch, off the request path.
    let unwritten = h
        .scalar_i64(&format!(
            "SELECT count(*) FROM javari_api_keys WHERE id = '{id}' AND last_used_at IS NOT NULL"
        ))
        .await;
    assert_eq!(unwritten, 0, "not written on the request's path");
    assert!(h.state.auth.cache.flush_last_used().await.expect("flush") >= 1);
    let listed: Value = h
        .http
        .get(h.url("/api/tokens"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let text = listed.to_string();
    assert!(
        !text.contains(&secret) && !text.contains(&h.admin_token),
        "no token values listed"
    );
    let mine = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(mine["name"], "deploy");
    assert_eq!(mine["state"], "active");
    assert_eq!(mine["owner"], "admin@example.test");
    assert!(mine["lastUsedAt"].is_string(), "{mine}");

    // An expired token is refused.
    let expired = create_token_expiring(
        &h.pool,
        &h.operator,
        "old",
        Role::Operator,
        chrono::Utc::now() - chrono::Duration::minutes(1),
    )
    .await
    .expect("expired token");
    assert_eq!(
        status(&h.http, h.url("/api/me"), Some(&expired.token), None).await,
        401
    );

    // Viewers see only their own tokens, and cannot revoke others'.
    let viewer_list: Value = h
        .http
        .get(h.url("/api/tokens"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(viewer_list["tokens"].as_array().expect("tokens").len(), 1);
    assert_eq!(
        status(
            &h.http,
            h.url("/api/tokens?all=true"),
            Some(&h.viewer_token),
            None
        )
        .await,
        403
    );
    let revoke = |token: String, id: String| {
        h.http
            .delete(h.url(&format!("/api/tokens/{id}")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        revoke(h.viewer_token.clone(), id.clone())
            .await
            .expect("delete")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        revoke(h.admin_token.clone(), id.clone())
            .await
            .expect("delete")
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        status(&h.http, h.url("/api/me"), Some(&secret), None).await,
        401,
        "refused at once after revocation"
    );
    let all: Value = h
        .http
        .get(h.url("/api/tokens?all=true"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let states: Vec<&str> = all["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert!(
        states.contains(&"revoked") && states.contains(&"expired"),
        "{states:?}"
    );

    // The page: a user's own tokens, with a form to revoke each.
    let http = client_from("127.0.0.30");
    let session = sign_in(&http, &h, "viewer@example.test").await;
    let page = http
        .get(h.url("/tokens"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("tests") && !page.contains("deploy"),
        "own tokens only"
    );
    let viewer_token_id: String = sqlx::query_scalar(
        "SELECT k.id::text FROM javari_api_keys k JOIN javari_users u ON u.id = k.user_id WHERE u.email = 'viewer@example.test'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("id");
    assert!(page.contains(&format!("/tokens/{viewer_token_id}/revoke")));
    let csrf = page_csrf(&http, &h, &session, "/tokens").await;
    let revoked = http
        .post(h.url(&format!("/tokens/{viewer_token_id}/revoke")))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 303);
    assert_eq!(
        status(&h.http, h.url("/api/me"), Some(&h.viewer_token), None).await,
        401
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_revocation_on_one_console_is_refused_by_another_at_once(pool: PgPool) {
    let a = Harness::start(pool.clone()).await;
    let b_state = AppState::with_settings(a.app_pool.clone(), test_settings(), None);
    let b = serve(b_state.clone()).await;
    let b_url = |path: &str| format!("{b}{path}");
    let http = client_from("127.0.0.31");
    wait_for("both caches loaded", 10, || {
        let ready = a.state.auth.cache.is_ready() && b_state.auth.cache.is_ready();
        async move { ready }
    })
    .await;

    // A token made on A works on B, and B answers from memory.
    let token = a.admin_token.clone();
    wait_for("B knows A's token", 10, || {
        let (http, url, token) = (http.clone(), b_url("/api/me"), token.clone());
        async move { status(&http, url, Some(&token), None).await == 200 }
    })
    .await;
    let lookups = b_state.auth.cache.db_lookups();
    for _ in 0..20 {
        assert_eq!(
            status(&http, b_url("/api/me"), Some(&token), None).await,
            200
        );
    }
    assert_eq!(
        b_state.auth.cache.db_lookups(),
        lookups,
        "authenticated without a database round trip"
    );

    // Token revoked on A: refused by B.
    let id: String = sqlx::query_scalar("SELECT id::text FROM javari_api_keys WHERE user_id = $1")
        .bind(a.operator.id)
        .fetch_one(&pool)
        .await
        .expect("id");
    let deleted = a
        .http
        .delete(a.url(&format!("/api/tokens/{id}")))
        .bearer_auth(&a.admin_token)
        .send()
        .await
        .expect("revoke");
    assert_eq!(deleted.status().as_u16(), 204);
    let operator_token = a.operator_token.clone();
    wait_for("B refuses the revoked token", 5, || {
        let (http, url, t) = (http.clone(), b_url("/api/me"), operator_token.clone());
        async move { status(&http, url, Some(&t), None).await == 401 }
    })
    .await;

    // Signed in on A, signed out on A: B refuses the session.
    let session = sign_in(&http, &a, "viewer@example.test").await;
    assert_eq!(
        status(&http, b_url("/api/me"), None, Some(&session)).await,
        200
    );
    let csrf = page_csrf(&http, &a, &session, "/chat").await;
    let out = http
        .post(a.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status().as_u16(), 303);
    wait_for("B refuses the ended session", 5, || {
        let (http, url, s) = (http.clone(), b_url("/api/me"), session.clone());
        async move { status(&http, url, None, Some(&s)).await == 401 }
    })
    .await;

    // A role change and a disabled user reach B.
    sqlx::query("UPDATE javari_users SET role = 'viewer' WHERE email = 'admin@example.test'")
        .execute(&pool)
        .await
        .expect("demote");
    wait_for("B sees the admin demoted", 5, || {
        let (http, url, t) = (http.clone(), b_url("/api/me"), token.clone());
        async move {
            let me: Value = http
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("json");
            me["role"] == "viewer"
        }
    })
    .await;

    // After the listener's connection is cut, B reloads and still hears revocations.
    let reloads = b_state.auth.cache.reloads();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        .execute(&pool)
        .await
        .expect("terminate listeners");
    wait_for("B reloaded after reconnecting", 10, || {
        let done = b_state.auth.cache.reloads() > reloads && b_state.auth.cache.is_ready();
        async move { done }
    })
    .await;
    sqlx::query("UPDATE javari_users SET disabled = true WHERE email = 'admin@example.test'")
        .execute(&pool)
        .await
        .expect("disable");
    wait_for("B refuses the disabled user", 5, || {
        let (http, url, t) = (http.clone(), b_url("/api/me"), token.clone());
        async move { status(&http, url, Some(&t), None).await == 401 }
    })
    .await;
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn expired_sessions_and_tokens_are_pruned_on_schedule_by_one_replica(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let expire = || async {
        sqlx::query(
            "INSERT INTO javari_sessions (user_id, token_hash, expires_at, created_at) \
             VALUES ($1, md5(random()::text), now() - interval '1 hour', now() - interval '2 hours')",
        )
        .bind(h.viewer.id)
        .execute(&pool)
        .await
        .expect("expired session");
    };
    expire().await;
    let old = create_token_expiring(
        &pool,
        &h.viewer,
        "old",
        Role::Viewer,
        chrono::Utc::now() - chrono::Duration::days(8),
    )
    .await
    .expect("old token");
    let recent = create_token_expiring(
        &pool,
        &h.viewer,
        "recent",
        Role::Viewer,
        chrono::Utc::now() - chrono::Duration::days(1),
    )
    .await
    .expect("recent token");
    let retention = Duration::from_secs(7 * 24 * 3600);

    // Another replica holds the lock: this one skips the run.
    let mut other = pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut *other)
        .await
        .expect("lock");
    assert_eq!(prune_once(&pool, retention).await.expect("prune"), None);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut *other)
        .await
        .expect("unlock");
    drop(other);

    let pruned = prune_once(&pool, retention)
        .await
        .expect("prune")
        .expect("ran");
    assert_eq!((pruned.sessions, pruned.tokens), (1, 1), "{pruned:?}");
    let left = |id: uuid::Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM javari_api_keys WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(left(old.id).await, 0, "expired beyond the retention");
    assert_eq!(left(recent.id).await, 1, "recently expired: still listed");
    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_api_keys WHERE expires_at > now()")
            .await,
        3,
        "live tokens stay"
    );

    // On a schedule (every second here).
    expire().await;
    let scheduler = start_pruning(pool.clone(), "*/1 * * * * *", retention)
        .await
        .expect("schedule");
    let pool2 = Arc::new(pool.clone());
    wait_for("the scheduled run pruned the expired session", 10, || {
        let pool = pool2.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM javari_sessions WHERE expires_at <= now()",
            )
            .fetch_one(&*pool)
            .await
            .expect("count")
                == 0
        }
    })
    .await;
    drop(scheduler);
}
