//! The schema pages over HTTP on a real PostgreSQL: the browser pages and exports, findings
//! with scan and suppression, and the admins' read-only SQL console (refusals, timeout,
//! audit, CSV, role and CSRF checks).

mod support;

use std::time::Duration;

use sqlx::PgPool;
use support::forms::{client_from, page_csrf, sign_in};
use support::{Harness, test_settings};

async fn get(h: &Harness, token: &str, path: &str) -> (u16, String, String) {
    let r = h
        .http
        .get(h.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect(path);
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.text().await.expect("body"))
}

async fn post_form(
    h: &Harness,
    token: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let r = h
        .http
        .post(h.url(path))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .expect(path);
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.text().await.expect("body"))
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn viewers_browse_tables_modules_search_and_exports(pool: PgPool) {
    let h = Harness::start(pool).await;
    let (status, _, html) = get(&h, &h.viewer_token, "/schema").await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/schema/tables/public/javari_users\""));
    assert!(html.contains("href=\"/schema/modules/javari_web\""));
    let (_, _, html) = get(&h, &h.viewer_token, "/schema?q=argon2").await;
    assert!(
        html.contains("password_hash"),
        "search finds the column by its comment"
    );

    let (status, _, html) = get(&h, &h.viewer_token, "/schema/tables/public/javari_sessions").await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg"), "the diagram is inline");
    assert!(html.contains("class=\"fk\" href=\"/schema/tables/public/javari_users\""));
    assert!(html.contains("token_hash"));
    assert!(html.contains("row-level security on"));
    let (status, _, html) = get(&h, &h.viewer_token, "/schema/tables/public/javari_users").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"referenced-by\""));
    assert!(html.contains("href=\"/schema/tables/public/javari_sessions\""));

    let (status, ct, md) = get(
        &h,
        &h.viewer_token,
        "/schema/tables/public/javari_users/export.md",
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/markdown"));
    assert!(md.contains("## public.javari_users"));
    let (_, _, mmd) = get(&h, &h.viewer_token, "/schema/modules/javari_web/export.mmd").await;
    assert!(mmd.starts_with("erDiagram"));
    assert!(mmd.contains("javari_web_crawls ||--o{ javari_web_crawl_runs"));
    let (status, ct, svg) = get(
        &h,
        &h.viewer_token,
        "/schema/modules/javari_web/diagram.svg",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "image/svg+xml");
    assert!(svg.contains("javari_web_crawl_pages"));
    let (status, _, html) = get(&h, &h.viewer_token, "/schema/modules/javari_web").await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg"));

    let (status, _, _) = get(&h, &h.viewer_token, "/schema/tables/public/no_such_table").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&h, &h.viewer_token, "/schema/modules/nothing").await;
    assert_eq!(status, 404);
    let long = format!("/schema?q={}", "x".repeat(300));
    let (status, _, _) = get(&h, &h.viewer_token, &long).await;
    assert_eq!(status, 400);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn findings_are_scanned_by_operators_and_suppressed_by_admins(pool: PgPool) {
    let h = Harness::start(pool).await;
    sqlx::raw_sql("CREATE TABLE notes (id bigint PRIMARY KEY, user_id uuid NOT NULL)")
        .execute(&h.pool)
        .await
        .expect("problem table");
    let (status, _, _) = post_form(&h, &h.viewer_token, "/schema/findings/scan", &[]).await;
    assert_eq!(status, 403, "viewers do not scan");
    let (status, _, _) = post_form(&h, &h.operator_token, "/schema/findings/scan", &[]).await;
    assert_eq!(status, 303);
    let (status, _, html) = get(&h, &h.viewer_token, "/schema/findings").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<strong id=\"error-count\">1</strong>"),
        "{html}"
    );
    assert!(html.contains("user_table_without_rls:public.notes"));
    assert_eq!(
        javari_core::schema::health::open_error_count(&h.pool)
            .await
            .expect("count"),
        1
    );

    let expires = (chrono::Utc::now() + chrono::Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let form = [
        ("key", "user_table_without_rls:public.notes"),
        ("reason", "scratch table, dropped on Friday"),
        ("owner", "platform-team"),
        ("expires", expires.as_str()),
    ];
    let (status, _, _) = post_form(&h, &h.operator_token, "/schema/findings/suppress", &form).await;
    assert_eq!(status, 403, "operators do not suppress");
    let (status, _, _) = post_form(&h, &h.admin_token, "/schema/findings/suppress", &form).await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.viewer_token, "/schema/findings").await;
    assert!(html.contains("<strong id=\"error-count\">0</strong>"));
    assert!(html.contains("scratch table, dropped on Friday"));
    let bad = [
        ("key", "x"),
        ("reason", ""),
        ("owner", "o"),
        ("expires", expires.as_str()),
    ];
    let (status, _, body) = post_form(&h, &h.admin_token, "/schema/findings/suppress", &bad).await;
    assert_eq!(status, 400, "{body}");
    let past = [
        ("key", "x"),
        ("reason", "r"),
        ("owner", "o"),
        ("expires", "2020-01-01"),
    ];
    let (status, _, _) = post_form(&h, &h.admin_token, "/schema/findings/suppress", &past).await;
    assert_eq!(status, 400);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_sql_console_is_read_only_bounded_audited_and_for_admins(pool: PgPool) {
    let mut settings = test_settings();
    settings.sql_console.statement_timeout = Duration::from_millis(300);
    settings.sql_console.max_rows = 3;
    let h = Harness::with_settings(pool, settings).await;

    let (status, _, _) = get(&h, &h.viewer_token, "/schema/sql").await;
    assert_eq!(status, 403, "a viewer cannot open it");
    let (status, _, _) = get(&h, &h.operator_token, "/schema/sql").await;
    assert_eq!(status, 403);
    let (status, _, _) =
        post_form(&h, &h.viewer_token, "/schema/sql", &[("sql", "SELECT 1")]).await;
    assert_eq!(status, 403);
    let (status, _, html) = get(&h, &h.admin_token, "/schema/sql").await;
    assert_eq!(status, 200);
    assert!(html.contains("READ ONLY"));

    let (status, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "SELECT email, role FROM javari_users ORDER BY email")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("<th scope=\"col\">email</th>"));
    assert!(html.contains("admin@example.test"));
    assert!(
        !html.contains("(cut at the limit)"),
        "3 users fit the limit of 3"
    );
    let (_, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "SELECT generate_series(1, 10)")],
    )
    .await;
    assert!(html.contains("3 rows (cut at the limit)"), "{html}");

    let (status, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "DELETE FROM javari_users")],
    )
    .await;
    assert_eq!(status, 403, "a write is refused");
    assert!(html.contains("read-only"));
    sqlx::raw_sql("CREATE SEQUENCE probe_seq")
        .execute(&h.pool)
        .await
        .expect("seq");
    let (status, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "SELECT nextval('probe_seq')")],
    )
    .await;
    assert_eq!(
        status, 403,
        "a write hidden in a SELECT is refused by the READ ONLY transaction"
    );
    assert!(html.contains("read-only transaction"), "{html}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_users")
        .fetch_one(&h.pool)
        .await
        .expect("users");
    assert_eq!(users, 3);

    let (status, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "SELECT pg_sleep(5)")],
    )
    .await;
    assert_eq!(status, 422, "a statement past the timeout is cancelled");
    assert!(html.contains("timeout of 300 ms"));

    let (status, _, html) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql",
        &[("sql", "SELECT * FROM javari_users"), ("explain", "1")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("QUERY PLAN") && html.contains("Seq Scan"),
        "{html}"
    );

    let (status, ct, csv) = post_form(
        &h,
        &h.admin_token,
        "/schema/sql.csv",
        &[("sql", "SELECT 'a,b' AS x, 2 AS y")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"));
    assert_eq!(csv, "x,y\r\n\"a,b\",2\r\n");

    let audited: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT actor, details FROM javari_audit_log WHERE action = 'schema.sql_query' ORDER BY id",
    )
    .fetch_all(&h.pool)
    .await
    .expect("audit");
    assert_eq!(
        audited.len(),
        7,
        "every statement run by the admin is audited: {audited:?}"
    );
    assert!(
        audited
            .iter()
            .all(|(actor, _)| actor == "admin@example.test")
    );
    assert_eq!(audited[2].1["sql"], "DELETE FROM javari_users");
    assert_eq!(audited[2].1["ok"], false);
    assert_eq!(audited[0].1["ok"], true);

    // With the session cookie, a form without its CSRF token is refused.
    let browser = client_from("127.0.0.1");
    let session = sign_in(&browser, &h, "admin@example.test").await;
    let refused = browser
        .post(h.url("/schema/sql"))
        .header("cookie", &session)
        .form(&[("sql", "SELECT 1")])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    let csrf = page_csrf(&browser, &h, &session, "/schema/sql").await;
    let ok = browser
        .post(h.url("/schema/sql"))
        .header("cookie", &session)
        .form(&[
            ("sql", "SELECT 41 + 1 AS answer"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok.text().await.expect("html").contains("<td>42</td>"));
}
