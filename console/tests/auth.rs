//! Sign-in, roles, CSRF and the login rate limit, over HTTP against a real PostgreSQL.

mod support;

use serde_json::json;
use sqlx::PgPool;
use support::{Harness, PASSWORD};

const SOME_ID: &str = "6f1c1f2e-7d2a-4d1b-9f1e-0a0b0c0d0e0f";

/// Every protected route: (method, path).
fn protected() -> Vec<(&'static str, String)> {
    let id = SOME_ID;
    vec![
        ("GET", "/".into()),
        ("GET", "/chat".into()),
        ("GET", "/conversations".into()),
        ("GET", "/knowledge".into()),
        ("GET", format!("/chat/streams/{id}")),
        ("POST", "/logout".into()),
        ("POST", "/chat/send".into()),
        ("POST", format!("/conversations/{id}/star")),
        ("POST", format!("/conversations/{id}/continue")),
        ("POST", "/knowledge/upload".into()),
        ("GET", "/metrics".into()),
        ("GET", "/api/me".into()),
        ("GET", "/api/javari/conversations".into()),
        ("POST", "/api/javari/conversations".into()),
        ("GET", format!("/api/javari/conversations/{id}")),
        ("PATCH", format!("/api/javari/conversations/{id}")),
        ("POST", format!("/api/javari/conversations/{id}/continue")),
        ("POST", "/api/javari/chat".into()),
        ("POST", "/api/javari/knowledge/search".into()),
        ("POST", "/api/javari/knowledge/upload".into()),
        ("GET", "/api/javari/knowledge/documents".into()),
        ("POST", "/api/users".into()),
        ("POST", "/api/tokens".into()),
        ("GET", "/api/tokens".into()),
        ("DELETE", format!("/api/tokens/{id}")),
        ("GET", "/tokens".into()),
        ("POST", format!("/tokens/{id}/revoke")),
        ("GET", "/account/mfa".into()),
        ("POST", "/account/mfa".into()),
    ]
}

async fn send(h: &Harness, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = h
        .http
        .request(method.parse().expect("method"), h.url(path))
        .header("content-type", "application/json")
        .body("{}");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn every_protected_route_refuses_anonymous_requests(pool: PgPool) {
    let h = Harness::start(pool).await;
    for (method, path) in protected() {
        let response = send(&h, method, &path, None).await;
        let status = response.status().as_u16();
        if path.starts_with("/api/") || path == "/metrics" {
            assert_eq!(status, 401, "{method} {path}");
            let body: serde_json::Value = response.json().await.expect("json error");
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("authentication required")),
                "{method} {path}: {body}"
            );
        } else {
            assert_eq!(status, 303, "{method} {path} redirects to sign-in");
            let location = response.headers()["location"].to_str().expect("location");
            assert!(
                location.starts_with("/login?next="),
                "{method} {path}: {location}"
            );
        }
        let bogus = send(&h, method, &path, Some("jv_not-a-real-token")).await;
        assert_eq!(
            bogus.status().as_u16(),
            401,
            "{method} {path} with an unknown token"
        );
    }
    for open in [
        "/healthz",
        "/api/health",
        "/login",
        "/static/app.css",
        "/static/chat.js",
    ] {
        let response = h.http.get(h.url(open)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{open} is public");
    }
    let login = h
        .http
        .get(h.url("/login"))
        .send()
        .await
        .expect("login page");
    let headers = login.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn roles_are_enforced(pool: PgPool) {
    let h = Harness::start(pool).await;
    let operator_only = [
        ("POST", "/api/javari/chat"),
        ("POST", "/api/javari/conversations"),
        ("POST", "/api/javari/knowledge/upload"),
        ("POST", "/chat/send"),
    ];
    let admin_only = [("POST", "/api/users"), ("POST", "/api/tokens")];
    for (method, path) in operator_only.iter().chain(admin_only.iter()) {
        let response = send(&h, method, path, Some(&h.viewer_token)).await;
        assert_eq!(response.status().as_u16(), 403, "viewer: {method} {path}");
        // JSON under /api/, an HTML page elsewhere; both say which role is needed.
        let body = response.text().await.expect("body");
        assert!(
            body.contains("needs the operator role") || body.contains("needs the admin role"),
            "{body}"
        );
    }
    for (method, path) in admin_only {
        let response = send(&h, method, path, Some(&h.operator_token)).await;
        assert_eq!(response.status().as_u16(), 403, "operator: {method} {path}");
    }
    // What each role may do, it can.
    let list = send(
        &h,
        "GET",
        "/api/javari/conversations",
        Some(&h.viewer_token),
    )
    .await;
    assert_eq!(list.status().as_u16(), 200);
    let created = h
        .http
        .post(h.url("/api/javari/conversations"))
        .bearer_auth(&h.operator_token)
        .json(&json!({"title": "Incident review"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let token = h
        .http
        .post(h.url("/api/tokens"))
        .bearer_auth(&h.admin_token)
        .json(&json!({"name": "ci", "role": "operator"}))
        .send()
        .await
        .expect("token");
    assert_eq!(token.status().as_u16(), 201);
    let token: serde_json::Value = token.json().await.expect("json");
    let secret = token["token"].as_str().expect("token shown once");
    assert!(secret.starts_with("jv_"));
    let stored: i64 = h
        .scalar_i64(&format!(
            "SELECT count(*) FROM javari_api_keys WHERE key_hash = '{secret}'"
        ))
        .await;
    assert_eq!(stored, 0, "only the hash is stored");
    let me = send(&h, "GET", "/api/me", Some(secret)).await;
    let me: serde_json::Value = me.json().await.expect("me");
    assert_eq!(me["role"], "operator");
    assert_eq!(me["email"], "admin@example.test");
}

/// Signs in through the form; returns the session cookie and the page's CSRF token.
async fn sign_in(h: &Harness, email: &str) -> (String, String) {
    let (login_cookie, form_csrf) = login_form(h).await;
    let response = h
        .http
        .post(h.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &form_csrf),
            ("next", "/chat"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status().as_u16(), 303, "signed in");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set_cookie.starts_with("__Host-javari_session=")
            && set_cookie.contains("; Path=/;")
            && set_cookie.contains("; Secure")
            && !set_cookie.contains("Domain")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let session = set_cookie.split(';').next().expect("pair").to_owned();
    let page = h
        .http
        .get(h.url("/chat"))
        .header("cookie", &session)
        .send()
        .await
        .expect("chat page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    (session, hidden_value(&html, "csrf_token"))
}

async fn login_form(h: &Harness) -> (String, String) {
    let page = h
        .http
        .get(h.url("/login"))
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
    (cookie, hidden_value(&html, "csrf_token"))
}

fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn forms_and_cookie_requests_need_their_csrf_token(pool: PgPool) {
    let h = Harness::start(pool).await;
    let (session, csrf) = sign_in(&h, "operator@example.test").await;
    assert_eq!(csrf.len(), 64);

    let without = h
        .http
        .post(h.url("/api/javari/conversations"))
        .header("cookie", &session)
        .json(&json!({"title": "no token"}))
        .send()
        .await
        .expect("post");
    assert_eq!(without.status().as_u16(), 403);
    let with = h
        .http
        .post(h.url("/api/javari/conversations"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .json(&json!({"title": "with token"}))
        .send()
        .await
        .expect("post");
    assert_eq!(with.status().as_u16(), 201);
    let created: serde_json::Value = with.json().await.expect("json");
    let id = created["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let star = |token: Option<&str>| {
        let mut fields = vec![("starred", "true".to_owned())];
        if let Some(t) = token {
            fields.push(("csrf_token", t.to_owned()));
        }
        h.http
            .post(h.url(&format!("/conversations/{id}/star")))
            .header("cookie", &session)
            .form(&fields)
            .send()
    };
    assert_eq!(
        star(None).await.expect("post").status().as_u16(),
        403,
        "form without token"
    );
    assert_eq!(
        star(Some("0".repeat(64).as_str()))
            .await
            .expect("post")
            .status()
            .as_u16(),
        403,
        "wrong token"
    );
    assert_eq!(
        star(Some(&csrf)).await.expect("post").status().as_u16(),
        303,
        "form with token"
    );
    let starred = h
        .scalar_i64(&format!(
            "SELECT count(*) FROM javari_conversations WHERE id = '{id}' AND starred"
        ))
        .await;
    assert_eq!(starred, 1);

    // The sign-in form itself is protected by its double-submit cookie.
    let forged = h
        .http
        .post(h.url("/login"))
        .form(&[
            ("email", "operator@example.test"),
            ("password", PASSWORD),
            ("csrf_token", "x"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);

    // Without JavaScript the chat form waits for the answer, then shows the conversation.
    let sent = h
        .http
        .post(h.url("/chat/send"))
        .header("cookie", &session)
        .form(&[
            ("message", "hi there"),
            ("csrf_token", csrf.as_str()),
            ("conversation_id", ""),
        ])
        .send()
        .await
        .expect("chat form");
    assert_eq!(sent.status().as_u16(), 303);
    let location = sent.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/chat?c="), "{location}");
    let page = h
        .http
        .get(h.url(&location))
        .header("cookie", &session)
        .send()
        .await
        .expect("conversation page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Hello from the fake gemini."),
        "the answer is on the page"
    );

    // A multipart form carries its token as its first field, never in the URL.
    let upload = |first: Option<&str>, in_query: Option<&str>, after_file: Option<&str>| {
        let mut form = reqwest::multipart::Form::new();
        if let Some(t) = first {
            form = form.text("csrf_token", t.to_owned());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(b"runbook text".to_vec()).file_name("notes.txt"),
        );
        if let Some(t) = after_file {
            form = form.text("csrf_token", t.to_owned());
        }
        let path = match in_query {
            Some(t) => format!("/knowledge/upload?csrf_token={t}"),
            None => "/knowledge/upload".to_owned(),
        };
        h.http
            .post(h.url(&path))
            .header("cookie", &session)
            .multipart(form)
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(upload(None, None, None).await.expect("upload")), 403);
    assert_eq!(
        status(upload(None, Some(&csrf), None).await.expect("upload")),
        403,
        "a token in the query string is not accepted"
    );
    assert_eq!(
        status(upload(None, None, Some(&csrf)).await.expect("upload")),
        403,
        "the token must come before the file"
    );
    assert_eq!(
        status(
            upload(Some("0".repeat(64).as_str()), None, None)
                .await
                .expect("upload")
        ),
        403,
        "wrong token"
    );
    let uploaded = upload(Some(&csrf), None, None).await.expect("upload");
    assert_eq!(uploaded.status().as_u16(), 303);
    assert_eq!(
        uploaded.headers()["location"].to_str().expect("location"),
        "/knowledge?notice=uploaded"
    );
    let stored = h
        .scalar_i64("SELECT count(*) FROM javari_knowledge_documents WHERE filename = 'notes.txt'")
        .await;
    assert_eq!(stored, 1, "the file streamed on to the handler whole");
    let page = h
        .http
        .get(h.url("/knowledge"))
        .header("cookie", &session)
        .send()
        .await
        .expect("knowledge page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("action=\"/knowledge/upload\"") && !page.contains("upload?csrf_token"),
        "the upload form's action carries no token"
    );

    // Sign-out ends the session.
    let out = h
        .http
        .post(h.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status().as_u16(), 303);
    let after = h
        .http
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .expect("me");
    assert_eq!(after.status().as_u16(), 401);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_sixth_wrong_password_from_one_client_is_throttled_there(pool: PgPool) {
    let h = Harness::start(pool).await;
    let h = &h;
    let attempt = |password: &'static str| async move {
        let (cookie, csrf) = login_form(h).await;
        h.http
            .post(h.url("/login"))
            .header("cookie", &cookie)
            .form(&[
                ("email", "viewer@example.test"),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .expect("post")
    };
    for i in 1..=5 {
        let response = attempt("wrong password").await;
        assert_eq!(response.status().as_u16(), 401, "attempt {i}");
        assert!(
            response
                .text()
                .await
                .expect("html")
                .contains("Wrong email or password")
        );
    }
    let sixth = attempt("wrong password").await;
    assert_eq!(sixth.status().as_u16(), 429, "sixth wrong password");
    assert!(sixth.headers().contains_key("retry-after"));
    let right = attempt(PASSWORD).await;
    assert_eq!(
        right.status().as_u16(),
        429,
        "this client waits out the window, even with the right password"
    );
    let sessions = h.scalar_i64("SELECT count(*) FROM javari_sessions").await;
    assert_eq!(sessions, 0);
}
