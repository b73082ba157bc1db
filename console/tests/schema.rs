//! The schema pages over HTTP on a real PostgreSQL: the browser pages and exports, findings
//! with scan and suppression, and the admins' read-only SQL console (refusals, timeout,
//! audit, CSV, role and CSRF checks).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use javari_core::db::MIGRATOR;
use javari_core::schema::drift::DriftSource;
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

/// The `<tr>` of the findings table holding `key`.
fn row_of<'a>(html: &'a str, key: &str) -> &'a str {
    let at = html
        .find(&format!("<code>{key}</code>"))
        .unwrap_or_else(|| panic!("no finding {key} in:\n{html}"));
    let start = html[..at].rfind("<tr").expect("row start");
    let end = at + html[at..].find("</tr>").expect("row end");
    &html[start..end]
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_column_added_by_hand_is_a_new_drift_finding_on_the_findings_page(pool: PgPool) {
    let mut settings = test_settings();
    settings.schema_drift = Some(DriftSource::beside(&MIGRATOR, &pool));
    let h = Harness::with_settings(pool, settings).await;
    let (status, _, _) = post_form(&h, &h.operator_token, "/schema/findings/scan", &[]).await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.viewer_token, "/schema/findings").await;
    assert!(
        html.contains("<span id=\"drift\">compared with the migrations</span>"),
        "{html}"
    );
    assert!(!html.contains("<code>drift:"), "{html}");

    sqlx::raw_sql("ALTER TABLE javari_users ADD COLUMN nickname text")
        .execute(&h.pool)
        .await
        .expect("hand-made change");
    let (status, _, _) = post_form(&h, &h.operator_token, "/schema/findings/scan", &[]).await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.viewer_token, "/schema/findings").await;
    let row = row_of(&html, "drift:column public.javari_users.nickname");
    assert!(row.contains("warn <strong>new</strong>"), "{row}");
    assert!(row.contains("maintainability"), "{row}");
    assert!(
        row.contains("<code>column public.javari_users.nickname</code>"),
        "{row}"
    );
    assert!(row.contains("added by hand"), "{row}");
}

/// Log lines written while a test runs (this thread: sqlx tests run on a current-thread
/// runtime, so the console's tasks log here too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

const TARGET_PASSWORD: &str = "pw-Sch3ma-t4rget-9931";

/// A database next to the test's own, with one problem (a user table without RLS), and the
/// URL of a role with a password on it.
async fn problem_database(owner: &PgPool) -> String {
    let options = owner.connect_options();
    let name = format!("javari_target_{}", uuid::Uuid::new_v4().simple());
    for sql in [
        format!("CREATE DATABASE {name}"),
        format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'schema_target_reader') THEN
                 CREATE ROLE schema_target_reader LOGIN PASSWORD '{TARGET_PASSWORD}';
               END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        ),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(owner)
            .await
            .expect("target database");
    }
    let target = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.as_ref().clone().database(&name))
        .await
        .expect("connect to the target");
    sqlx::raw_sql(
        "CREATE TABLE notes (id bigint PRIMARY KEY, user_id uuid NOT NULL, body text);
         COMMENT ON TABLE notes IS 'notes'; COMMENT ON COLUMN notes.id IS 'id';
         COMMENT ON COLUMN notes.user_id IS 'owner'; COMMENT ON COLUMN notes.body IS 'text';
         GRANT SELECT ON notes TO schema_target_reader;",
    )
    .execute(&target)
    .await
    .expect("seed the target");
    target.close().await;
    format!(
        "postgres://schema_target_reader:{TARGET_PASSWORD}@{}:{}/{name}",
        options.get_host(),
        options.get_port()
    )
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn other_databases_show_their_own_findings_and_never_their_urls(pool: PgPool) {
    let url = problem_database(&pool).await;
    // Everything logged from here (the role's password was set above, by the test itself).
    let logs = Logs::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let (client, ns) = support::cluster::cluster().await;
    // A BackupPolicy whose database is the same problem database, through its Secret.
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "orders-db", "namespace": ns},
        "stringData": {"url": url}
    }))
    .expect("secret");
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &ns)
        .create(&Default::default(), &secret)
        .await
        .expect("secret created");
    support::cluster::create::<javari_crds::BackupPolicy>(
        &client,
        &ns,
        serde_json::json!({"apiVersion": "javari.ai/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "orders", "namespace": ns},
            "spec": {"database": {"secretRef": {"name": "orders-db", "key": "url"}}}}),
    )
    .await;
    let h = Harness::with_kube(pool, test_settings(), Some(client)).await;
    let mut bodies: Vec<String> = Vec::new();

    // An admin configures a connection; its URL is sealed and never shown back.
    let (status, _, body) = post_form(
        &h,
        &h.admin_token,
        "/schema/connections",
        &[("name", "crm"), ("url", url.as_str())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT url_ciphertext FROM javari_schema_connections WHERE name = 'crm'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("stored");
    assert!(
        !String::from_utf8_lossy(&stored).contains(TARGET_PASSWORD),
        "sealed"
    );
    let (status, _, body) = post_form(
        &h,
        &h.operator_token,
        "/schema/connections",
        &[("name", "crm2"), ("url", url.as_str())],
    )
    .await;
    assert_eq!(status, 403, "operators configure no connection");
    bodies.push(body);
    let (status, _, body) = post_form(
        &h,
        &h.admin_token,
        "/schema/connections",
        &[
            ("name", "bad"),
            ("url", &format!("mysql://x:{TARGET_PASSWORD}@127.0.0.1/db")),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("not a valid postgres:// URL"), "{body}");
    bodies.push(body);

    let (status, _, html) = get(&h, &h.admin_token, "/schema/findings").await;
    assert_eq!(status, 200);
    assert!(html.contains("<option value=\"connection:crm\""), "{html}");
    let backup = format!("backup:{ns}/orders");
    assert!(
        html.contains(&format!("<option value=\"{backup}\"")),
        "the BackupPolicy's database is offered: {html}"
    );
    bodies.push(html);

    // Only admins look at other databases.
    let (status, _, body) = get(&h, &h.viewer_token, "/schema/findings?db=connection:crm").await;
    assert_eq!(status, 403);
    bodies.push(body);
    let (status, _, body) = post_form(
        &h,
        &h.operator_token,
        "/schema/findings/scan",
        &[("db", "connection:crm")],
    )
    .await;
    assert_eq!(status, 403);
    bodies.push(body);
    let (status, _, _) = get(&h, &h.admin_token, "/schema/findings?db=elsewhere").await;
    assert_eq!(status, 400);

    // The connection's scan shows its problem; the platform's does not.
    let key = "user_table_without_rls:public.notes";
    for db in ["connection:crm", backup.as_str()] {
        let (status, _, body) =
            post_form(&h, &h.admin_token, "/schema/findings/scan", &[("db", db)]).await;
        assert_eq!(status, 303, "{db}: {body}");
        let (status, _, html) = get(&h, &h.admin_token, &format!("/schema/findings?db={db}")).await;
        assert_eq!(status, 200);
        assert!(
            html.contains(&format!("<code>{key}</code>")),
            "{db}: {html}"
        );
        assert!(
            html.contains("<strong id=\"error-count\">1</strong>"),
            "{db}: {html}"
        );
        assert!(html.contains("<strong id=\"target\">"), "{html}");
        bodies.push(html);
    }
    let (status, _, _) = post_form(&h, &h.operator_token, "/schema/findings/scan", &[]).await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.admin_token, "/schema/findings").await;
    assert!(!html.contains(&format!("<code>{key}</code>")), "{html}");
    assert!(
        html.contains("<strong id=\"error-count\">0</strong>"),
        "{html}"
    );
    bodies.push(html);
    let targets: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT target FROM javari_schema_scans ORDER BY 1")
            .fetch_all(&h.pool)
            .await
            .expect("scans");
    assert_eq!(
        targets,
        vec![
            backup.clone(),
            "connection:crm".to_owned(),
            "platform".to_owned()
        ]
    );

    // A suppression belongs to its database.
    let expires = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let (status, _, _) = post_form(
        &h,
        &h.admin_token,
        "/schema/findings/suppress",
        &[
            ("key", key),
            ("reason", "legacy CRM, read-only"),
            ("owner", "crm-team"),
            ("expires", expires.as_str()),
            ("db", "connection:crm"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.admin_token, "/schema/findings?db=connection:crm").await;
    assert!(html.contains("<strong id=\"error-count\">0</strong>"));
    let (_, _, html) = get(&h, &h.admin_token, &format!("/schema/findings?db={backup}")).await;
    assert!(html.contains("<strong id=\"error-count\">1</strong>"));

    // The browser follows the chosen database through its links.
    let (status, _, html) = get(&h, &h.admin_token, "/schema?db=connection:crm").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("href=\"/schema/tables/public/notes?db=connection:crm\""),
        "{html}"
    );
    assert!(
        !html.contains("javari_users"),
        "the platform's tables are not listed"
    );
    bodies.push(html);
    let (status, _, html) = get(
        &h,
        &h.admin_token,
        "/schema/tables/public/notes?db=connection:crm",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("<code>user_id</code>"));
    assert!(html.contains("<svg"));
    bodies.push(html);
    let (status, _, _) = get(&h, &h.admin_token, "/schema/tables/public/notes").await;
    assert_eq!(status, 404, "not a table of the platform's database");

    // A database that cannot be reached: a clear error naming the connection, not its URL.
    let unreachable =
        format!("postgres://schema_target_reader:{TARGET_PASSWORD}@127.0.0.1:1/nothing");
    let (status, _, _) = post_form(
        &h,
        &h.admin_token,
        "/schema/connections",
        &[("name", "broken"), ("url", unreachable.as_str())],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, body) = post_form(
        &h,
        &h.admin_token,
        "/schema/findings/scan",
        &[("db", "connection:broken")],
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("connection broken"), "{body}");
    bodies.push(body);
    let (status, _, body) = get(&h, &h.admin_token, "/schema?db=connection:broken").await;
    assert_eq!(status, 502);
    bodies.push(body);
    let (status, _, body) = get(&h, &h.admin_token, "/schema?db=connection:missing").await;
    assert_eq!(status, 404);
    bodies.push(body);

    let (status, _, _) = post_form(
        &h,
        &h.admin_token,
        "/schema/connections/delete",
        &[("name", "broken")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, _, html) = get(&h, &h.admin_token, "/schema/findings").await;
    assert!(!html.contains("connection:broken"));
    bodies.push(html);

    let logged = logs.text();
    assert!(
        logged.contains("schema target unavailable"),
        "the unreachable database is logged: {logged}"
    );
    for text in bodies.iter().chain(std::iter::once(&logged)) {
        assert!(
            !text.contains(TARGET_PASSWORD),
            "a password leaked:\n{text}"
        );
        assert!(!text.contains(&url), "a connection URL leaked:\n{text}");
        assert!(
            !text.contains("@127.0.0.1:1/"),
            "a connection URL leaked:\n{text}"
        );
    }
}
