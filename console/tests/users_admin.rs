//! Users and API tokens (admin): an admin lists, creates, changes a role, disables and
//! enables users, lists and revokes a user's tokens (page forms and JSON API), each action
//! audited; a disabled user's session and tokens stop working at once, here and on another
//! replica; viewers and operators get 403 and see no admin navigation.

mod support;

use std::time::{Duration, Instant};

use javari_console::auth::{Role, create_token, find_by_email};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::forms::{client_from, page_csrf, sign_in};
use support::{Harness, PASSWORD, test_settings};

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

async fn get_status(
    http: &reqwest::Client,
    url: String,
    cookie: Option<&str>,
    bearer: Option<&str>,
) -> u16 {
    let mut request = http.get(url);
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    if let Some(t) = bearer {
        request = request.bearer_auth(t);
    }
    request.send().await.expect("request").status().as_u16()
}

async fn post_form(
    http: &reqwest::Client,
    url: String,
    session: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url)
        .header("cookie", session)
        .form(fields)
        .send()
        .await
        .expect("post")
}

async fn audit_actions(pool: &PgPool, actor: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT action, resource_id FROM javari_audit_log WHERE actor = $1 AND resource_type = 'User' ORDER BY id",
    )
    .bind(actor)
    .fetch_all(pool)
    .await
    .expect("audit")
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn an_admin_manages_users_and_tokens_and_each_takes_effect_at_once(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let (replica, replica_base) = h.replica(test_settings()).await;
    wait_for("both caches loaded", 10, || {
        let ready = h.state.auth.cache.is_ready() && replica.auth.cache.is_ready();
        async move { ready }
    })
    .await;
    let http = client_from("127.0.0.61");
    let admin = sign_in(&http, &h, "admin@example.test").await;

    // The list page, with the admin navigation.
    let page = http
        .get(h.url("/users"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("users");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("href=\"/users\""), "admin nav has Users");
    for email in [
        "admin@example.test",
        "operator@example.test",
        "viewer@example.test",
    ] {
        assert!(
            html.contains(&format!("data-user=\"{email}\"")),
            "{email} listed"
        );
    }
    assert!(!html.contains("argon2"), "no password hashes on the page");

    // Create a user through the form.
    let csrf = page_csrf(&http, &h, &admin, "/users").await;
    let created = post_form(
        &http,
        h.url("/users"),
        &admin,
        &[
            ("csrf_token", csrf.as_str()),
            ("email", "dana@example.test"),
            ("password", PASSWORD),
            ("role", "viewer"),
        ],
    )
    .await;
    assert_eq!(created.status().as_u16(), 303);
    let dana = find_by_email(&pool, "dana@example.test")
        .await
        .expect("query")
        .expect("dana exists");
    assert_eq!(dana.user.role, Role::Viewer);
    assert!(!dana.disabled);
    // A second time: refused with a clear message, nothing changed.
    let again = post_form(
        &http,
        h.url("/users"),
        &admin,
        &[
            ("csrf_token", csrf.as_str()),
            ("email", "Dana@example.test"),
            ("password", PASSWORD),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(again.status().as_u16(), 409);
    assert!(again.text().await.expect("html").contains("exists already"));
    let short = post_form(
        &http,
        h.url("/users"),
        &admin,
        &[
            ("csrf_token", csrf.as_str()),
            ("email", "eve@example.test"),
            ("password", "short"),
            ("role", "viewer"),
        ],
    )
    .await;
    assert_eq!(short.status().as_u16(), 400);

    // Dana signs in (viewer: no Users link) and has a token.
    let dana_http = client_from("127.0.0.62");
    let dana_session = sign_in(&dana_http, &h, "dana@example.test").await;
    let dana_home = dana_http
        .get(h.url("/chat"))
        .header("cookie", &dana_session)
        .send()
        .await
        .expect("chat")
        .text()
        .await
        .expect("html");
    assert!(!dana_home.contains("href=\"/users\""));
    let token = create_token(&h.app_pool, &dana.user, "dana's script", Role::Viewer)
        .await
        .expect("token");

    // Change her role through the form: her next request has it.
    let role = post_form(
        &http,
        h.url(&format!("/users/{}/role", dana.user.id)),
        &admin,
        &[("csrf_token", csrf.as_str()), ("role", "operator")],
    )
    .await;
    assert_eq!(role.status().as_u16(), 303);
    let me: Value = dana_http
        .get(h.url("/api/me"))
        .header("cookie", &dana_session)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["role"], "operator");

    // Her tokens, on her page; revoke the token through the form: refused at once.
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&token.token)).await,
        200
    );
    let user_page = http
        .get(h.url(&format!("/users/{}", dana.user.id)))
        .header("cookie", &admin)
        .send()
        .await
        .expect("user page")
        .text()
        .await
        .expect("html");
    assert!(
        user_page.contains("dana&#x27;s script") || user_page.contains("dana&#39;s script"),
        "{user_page}"
    );
    assert!(user_page.contains(&format!("data-token=\"{}\"", token.id)));
    assert!(!user_page.contains(&token.token), "never the token's value");
    let revoked = post_form(
        &http,
        h.url(&format!(
            "/users/{}/tokens/{}/revoke",
            dana.user.id, token.id
        )),
        &admin,
        &[("csrf_token", csrf.as_str())],
    )
    .await;
    assert_eq!(revoked.status().as_u16(), 303);
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&token.token)).await,
        401,
        "the revoked token is refused at once"
    );

    // Disable her: her session is refused at once here, and on the other replica.
    let second = create_token(&h.app_pool, &dana.user, "second", Role::Viewer)
        .await
        .expect("token");
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&second.token)).await,
        200
    );
    wait_for("the replica knows her session", 10, || {
        let (http, url, s) = (
            dana_http.clone(),
            format!("{replica_base}/api/me"),
            dana_session.clone(),
        );
        async move { get_status(&http, url, Some(&s), None).await == 200 }
    })
    .await;
    let disabled = post_form(
        &http,
        h.url(&format!("/users/{}/disable", dana.user.id)),
        &admin,
        &[("csrf_token", csrf.as_str())],
    )
    .await;
    assert_eq!(disabled.status().as_u16(), 303);
    assert_eq!(
        get_status(&dana_http, h.url("/api/me"), Some(&dana_session), None).await,
        401,
        "a disabled user's session is refused at once"
    );
    let chat = dana_http
        .get(h.url("/chat"))
        .header("cookie", &dana_session)
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status().as_u16(), 303, "pages send her to sign in");
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&second.token)).await,
        401,
        "and her tokens"
    );
    wait_for("the replica refuses the disabled user", 5, || {
        let (http, url, s) = (
            dana_http.clone(),
            format!("{replica_base}/api/me"),
            dana_session.clone(),
        );
        async move { get_status(&http, url, Some(&s), None).await == 401 }
    })
    .await;
    let listed = http
        .get(h.url("/users"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("users")
        .text()
        .await
        .expect("html");
    assert!(listed.contains(&format!("/users/{}/enable", dana.user.id)));

    // Enabled through the JSON API: her session works again.
    let enabled = h
        .http
        .patch(h.url(&format!("/api/users/{}", dana.user.id)))
        .bearer_auth(&h.admin_token)
        .json(&json!({ "disabled": false, "role": "viewer" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(enabled.status().as_u16(), 200);
    let body: Value = enabled.json().await.expect("json");
    assert_eq!(body["disabled"], false);
    assert_eq!(body["role"], "viewer");
    assert_eq!(
        get_status(&dana_http, h.url("/api/me"), Some(&dana_session), None).await,
        200
    );

    // The JSON API lists users and a user's tokens, and revokes one.
    let users: Value = h
        .http
        .get(h.url("/api/users"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let emails: Vec<&str> = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert!(emails.contains(&"dana@example.test"));
    assert!(!users.to_string().contains("argon2"));
    let tokens: Value = h
        .http
        .get(h.url(&format!("/api/users/{}/tokens", dana.user.id)))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("tokens")
        .json()
        .await
        .expect("json");
    assert_eq!(tokens["tokens"].as_array().expect("tokens").len(), 2);
    assert!(!tokens.to_string().contains(&second.token));
    let deleted = h
        .http
        .delete(h.url(&format!("/api/users/{}/tokens/{}", dana.user.id, second.id)))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&second.token)).await,
        401
    );
    // A token of someone else under her id: not found, nothing revoked.
    let wrong = h
        .http
        .delete(h.url(&format!(
            "/api/users/{}/tokens/{}",
            dana.user.id,
            uuid_of_token(&pool, h.viewer.id).await
        )))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(wrong.status().as_u16(), 404);
    assert_eq!(
        get_status(&h.http, h.url("/api/me"), None, Some(&h.viewer_token)).await,
        200
    );

    // An admin cannot lock themself out.
    let own = h
        .http
        .patch(h.url(&format!("/api/users/{}", h.admin.id)))
        .bearer_auth(&h.admin_token)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .expect("patch");
    assert_eq!(own.status().as_u16(), 409);
    assert!(
        !find_by_email(&pool, "admin@example.test")
            .await
            .expect("q")
            .expect("admin")
            .disabled
    );

    // Every action is in the audit log, in order, with who did it.
    let audit = audit_actions(&pool, "admin@example.test").await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "user.role.operator",
            "token.revoke",
            "user.disable",
            "user.role.viewer",
            "user.enable",
            "token.revoke",
        ]
    );
    assert_eq!(audit[0].1, "dana@example.test");
    assert_eq!(audit[2].1, token.id.to_string());
    let audit_page = http
        .get(h.url("/audit"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("audit")
        .text()
        .await
        .expect("html");
    assert!(audit_page.contains("user.disable"));
    assert!(
        !audit_page.contains(PASSWORD),
        "no password in the audit log"
    );
}

async fn uuid_of_token(pool: &PgPool, owner: uuid::Uuid) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM javari_api_keys WHERE user_id = $1 LIMIT 1")
        .bind(owner)
        .fetch_one(pool)
        .await
        .expect("token id")
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn viewers_and_operators_get_403_and_see_no_admin_navigation(pool: PgPool) {
    let h = Harness::start(pool.clone()).await;
    let target = h.viewer.id;
    for (email, address, token) in [
        ("viewer@example.test", "127.0.0.63", h.viewer_token.clone()),
        (
            "operator@example.test",
            "127.0.0.64",
            h.operator_token.clone(),
        ),
    ] {
        let http = client_from(address);
        let session = sign_in(&http, &h, email).await;
        let home = http
            .get(h.url("/chat"))
            .header("cookie", &session)
            .send()
            .await
            .expect("chat")
            .text()
            .await
            .expect("html");
        assert!(!home.contains("href=\"/users\""), "{email}: no Users link");
        assert!(!home.contains("href=\"/audit\""), "{email}: no Audit link");
        assert_eq!(
            get_status(&http, h.url("/users"), Some(&session), None).await,
            403,
            "{email}"
        );
        assert_eq!(
            get_status(
                &http,
                h.url(&format!("/users/{target}")),
                Some(&session),
                None
            )
            .await,
            403
        );
        let csrf = page_csrf(&http, &h, &session, "/chat").await;
        for path in [
            format!("/users/{target}/disable"),
            format!("/users/{target}/role"),
            "/users".to_owned(),
        ] {
            let refused = post_form(
                &http,
                h.url(&path),
                &session,
                &[
                    ("csrf_token", csrf.as_str()),
                    ("role", "admin"),
                    ("email", "mallory@example.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
            assert_eq!(refused.status().as_u16(), 403, "{email} POST {path}");
        }
        assert_eq!(
            get_status(&h.http, h.url("/api/users"), None, Some(&token)).await,
            403
        );
        let patch = h
            .http
            .patch(h.url(&format!("/api/users/{target}")))
            .bearer_auth(&token)
            .json(&json!({ "role": "admin" }))
            .send()
            .await
            .expect("patch");
        assert_eq!(patch.status().as_u16(), 403);
    }
    let viewer = find_by_email(&pool, "viewer@example.test")
        .await
        .expect("q")
        .expect("viewer");
    assert_eq!(viewer.user.role, Role::Viewer);
    assert!(!viewer.disabled);
    assert!(
        find_by_email(&pool, "mallory@example.test")
            .await
            .expect("q")
            .is_none()
    );
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM javari_audit_log WHERE resource_type = 'User'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(rows, 0, "nothing was done, nothing audited");
}
