//! Web sources crawled into the knowledge base, end to end over HTTP against a site served
//! by the test itself (its request log is the evidence), a real PostgreSQL and the fake AI
//! providers: robots.txt, sitemaps, conditional requests, changed and vanished pages, the
//! network policy (loopback refused unless an admin allowed the source's own origin, also
//! after a redirect), the size cut, the schedule's lock, and citations by URL in the chat.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::stream;
use javari_core::crawl::FetchLimits;
use javari_core::crawl::scheduler::sweep;
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{Harness, test_settings};
use uuid::Uuid;

const FIFTY_MB: usize = 50 * 1024 * 1024;

/// One request the site received.
#[derive(Clone, Debug)]
struct Logged {
    path: String,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    user_agent: String,
    at: Instant,
}

#[derive(Default)]
struct SiteState {
    log: Vec<Logged>,
    /// Version of /changing.
    version: u32,
    /// /vanishing answers 404.
    vanished: bool,
    /// Leave out /redirect and /huge (whose failures are never conditional).
    simple: bool,
    /// `http://127.0.0.1:PORT` of the "internal" server the redirect points at.
    internal: String,
    base: String,
}

#[derive(Clone)]
struct Site {
    state: Arc<Mutex<SiteState>>,
    base: String,
}

impl Site {
    fn log(&self) -> Vec<Logged> {
        self.state.lock().expect("site").log.clone()
    }

    fn clear_log(&self) {
        self.state.lock().expect("site").log.clear();
    }

    fn set(&self, f: impl FnOnce(&mut SiteState)) {
        f(&mut self.state.lock().expect("site"));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

const LAST_MODIFIED: &str = "Wed, 25 Nov 2026 08:00:00 GMT";

fn page(title: &str, body: &str, links: &[&str]) -> String {
    let nav: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">link</a> "))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><title>{title}</title><script>var tracking = 'script text';</script></head>\
         <body><nav>Site navigation menu {nav}</nav><main><h1>{title}</h1><p>{body}</p></main>\
         <footer>Footer boilerplate</footer></body></html>"
    )
}

/// The response for `path`, or `None` for 404.
fn content(s: &SiteState, path: &str) -> Option<(String, &'static str)> {
    let mut index_links = vec![
        "/docs/a",
        "/docs/a#install",
        "/docs/b",
        "/changing",
        "/vanishing",
        "/private/secret",
        "mailto:ops@example.test",
        "http://outside.example.invalid/page",
    ];
    if !s.simple {
        index_links.extend(["/redirect", "/huge", "/no-validators"]);
    }
    let html = "text/html; charset=utf-8";
    Some(match path {
        "/robots.txt" => (
            format!(
                "User-agent: *\nDisallow: /private\nCrawl-delay: 0.05\n\nSitemap: {}/sitemap.xml\n",
                s.base
            ),
            "text/plain",
        ),
        "/sitemap.xml" => {
            let mut paths = vec!["/", "/docs/a", "/orphan", "/private/listed-but-disallowed"];
            if !s.simple {
                paths.push("/huge");
            }
            let urls: String = paths
                .iter()
                .map(|p| format!("<url><loc>{}{p}</loc></url>", s.base))
                .collect();
            (
                format!(
                    "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{urls}</urlset>"
                ),
                "application/xml",
            )
        }
        "/" => (page("Operations docs", "Welcome to the operations documentation.", &index_links), html),
        "/docs/a" => (
            page(
                "Draining queues",
                "Draining the pelican queue: pause the importers, wait until the pelican queue is empty, then restart the workers.",
                &["/docs/b", "/"],
            ),
            html,
        ),
        "/docs/b" => (
            page("Certificates", "Rotate the walrus certificate every ninety days with cert-manager.", &["/docs/a"]),
            html,
        ),
        "/orphan" => (
            "# Orphan runbook\n\nOnly the sitemap links to this markdown page about the heron failover.\n".to_owned(),
            "text/markdown",
        ),
        "/changing" => {
            let body = if s.version == 0 {
                "Status: the zebra cluster runs version alphaold of the scheduler."
            } else {
                "Status: the zebra cluster runs version bravonew of the scheduler."
            };
            (page("Status", body, &[]), html)
        }
        // No ETag, no Last-Modified: every crawl gets the whole page, skipped by its hash.
        "/no-validators" if !s.simple => (
            page("Contacts", "Page the osprey on-call engineer for storage incidents.", &[]),
            html,
        ),
        "/vanishing" if !s.vanished => (
            page("Temporary", "A temporary notice about the ibex maintenance window.", &[]),
            html,
        ),
        _ => return None,
    })
}

async fn serve_site(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let value = |h: &HeaderMap, name: header::HeaderName| {
        h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let (found, internal, simple, version) = {
        let mut s = site.state.lock().expect("site");
        s.log.push(Logged {
            path: path.clone(),
            if_none_match: value(&headers, header::IF_NONE_MATCH),
            if_modified_since: value(&headers, header::IF_MODIFIED_SINCE),
            user_agent: value(&headers, header::USER_AGENT).unwrap_or_default(),
            at: Instant::now(),
        });
        (content(&s, &path), s.internal.clone(), s.simple, s.version)
    };
    if !simple && path == "/redirect" {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{internal}/stolen-metadata"))],
        )
            .into_response();
    }
    if !simple && path == "/huge" {
        // 50 MB, streamed without a Content-Length: only reading it shows its size.
        let chunk = bytes_of(64 * 1024);
        let chunks = FIFTY_MB / chunk.len();
        let body = stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        return (
            [(header::CONTENT_TYPE, "text/html")],
            Body::from_stream(body),
        )
            .into_response();
    }
    let Some((body, content_type)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if path == "/no-validators" {
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    // Pages under /docs have an ETag, the others a Last-Modified date only, so both kinds
    // of conditional request are exercised.
    let etag = format!("\"{}-v{version}\"", path.replace('/', "_"));
    let uses_etag = path.starts_with("/docs") || path == "/robots.txt" || path == "/changing";
    let not_modified = if uses_etag {
        value(&headers, header::IF_NONE_MATCH).as_deref() == Some(etag.as_str())
    } else {
        value(&headers, header::IF_MODIFIED_SINCE).as_deref() == Some(LAST_MODIFIED)
    };
    let validator = if uses_etag {
        (header::ETAG, etag)
    } else {
        (header::LAST_MODIFIED, LAST_MODIFIED.to_owned())
    };
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [validator]).into_response();
    }
    (
        [(header::CONTENT_TYPE, content_type.to_owned()), validator],
        body,
    )
        .into_response()
}

fn bytes_of(n: usize) -> axum::body::Bytes {
    let mut html = b"<p>".to_vec();
    html.resize(n, b'x');
    axum::body::Bytes::from(html)
}

async fn start_server(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// The site, and the "internal" server its redirect points at (with its own request log).
async fn start_site(simple: bool) -> (Site, Arc<Mutex<Vec<String>>>) {
    let internal_log = Arc::new(Mutex::new(Vec::new()));
    let log = internal_log.clone();
    let internal = start_server(Router::new().fallback(move |request: Request| {
        let log = log.clone();
        async move {
            log.lock().expect("log").push(request.uri().to_string());
            "internal secrets"
        }
    }))
    .await;
    let state = Arc::new(Mutex::new(SiteState {
        simple,
        internal,
        ..SiteState::default()
    }));
    let site = Site {
        state: state.clone(),
        base: String::new(),
    };
    let base = start_server(Router::new().fallback(serve_site).with_state(site)).await;
    state.lock().expect("site").base = base.clone();
    (Site { state, base }, internal_log)
}

fn crawl_settings() -> javari_console::Settings {
    javari_console::Settings {
        crawl_limits: FetchLimits {
            request_interval: Duration::ZERO,
            page_timeout: Duration::from_secs(20),
            ..FetchLimits::default()
        },
        ..test_settings()
    }
}

async fn api(
    h: &Harness,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = h
        .http
        .request(method.parse().expect("method"), h.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Creates a source as the operator; with `allow`, an admin allows its origin.
async fn source(h: &Harness, body: Value, allow: bool) -> Uuid {
    let (status, created) = api(
        h,
        "POST",
        "/api/javari/web-crawls",
        &h.operator_token,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id: Uuid = created["source"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    if allow {
        let path = format!("/api/javari/web-crawls/{id}/private-network");
        let (status, allowed) = api(h, "POST", &path, &h.admin_token, None).await;
        assert_eq!(status, 200, "{allowed}");
        assert_eq!(allowed["source"]["privateNetworkAllowed"], true);
    }
    id
}

/// Crawl now, then wait (with a deadline) for the run to finish; the run.
async fn crawl(h: &Harness, id: Uuid) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        let (status, started) = api(
            h,
            "POST",
            &format!("/api/javari/web-crawls/{id}/crawl"),
            &h.operator_token,
            None,
        )
        .await;
        // The previous crawl releases the source's lock just after writing its run.
        if status == 409 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!(status, 202, "{started}");
        break started;
    };
    assert_eq!(started["run"]["status"], "running");
    assert_eq!(started["run"]["trigger"], "manual");
    let run = started["run"]["id"].as_str().expect("run id").to_owned();
    loop {
        let (status, body) = api(
            h,
            "GET",
            &format!("/api/javari/web-crawls/{id}/runs/{run}"),
            &h.operator_token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if !body["run"]["finishedAt"].is_null() {
            return body["run"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the crawl did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(source_url, document id)` of the source's documents.
async fn documents(pool: &PgPool, id: Uuid) -> Vec<(String, Uuid)> {
    sqlx::query_as(
        "SELECT source_url, id FROM javari_knowledge_documents
         WHERE web_crawl_id = $1 AND source_type = 'web_crawl' ORDER BY source_url",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("documents")
}

async fn chunks(pool: &PgPool, document: Uuid) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT id, content FROM javari_document_chunks WHERE document_id = $1 ORDER BY chunk_index")
        .bind(document)
        .fetch_all(pool)
        .await
        .expect("chunks")
}

fn errors_for<'a>(run: &'a Value, path: &str) -> Vec<&'a str> {
    run["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| e["url"].as_str().is_some_and(|u| u.ends_with(path)))
        .filter_map(|e| e["error"].as_str())
        .collect()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_crawl_stores_the_right_pages_once_and_keeps_them_exact(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (site, internal_log) = start_site(false).await;
    let id = source(&h, json!({"url": site.url("/"), "name": "Ops docs"}), true).await;

    // First crawl.
    let run = crawl(&h, id).await;
    let expected: Vec<String> = [
        "/",
        "/changing",
        "/docs/a",
        "/docs/b",
        "/no-validators",
        "/orphan",
        "/vanishing",
    ]
    .iter()
    .map(|p| site.url(p))
    .collect();
    let docs = documents(&pool, id).await;
    assert_eq!(
        docs.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>(),
        expected,
        "{run}"
    );
    assert_eq!(run["pagesStored"], 7, "{run}");
    assert_eq!(
        run["status"], "partial",
        "the redirect and the huge page failed: {run}"
    );

    let log = site.log();
    assert!(
        log.iter().all(|r| !r.path.starts_with("/private")),
        "robots.txt disallows /private: {:?}",
        log.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert!(run["robotsExcluded"].as_i64().expect("count") >= 2, "{run}");
    assert_eq!(log[0].path, "/robots.txt", "robots.txt comes first");
    assert!(
        log.iter()
            .all(|r| r.user_agent.starts_with("javari-crawler/"))
    );
    for path in ["/docs/a", "/"] {
        assert_eq!(
            log.iter().filter(|r| r.path == path).count(),
            1,
            "{path} requested once however often it is linked"
        );
    }
    // Requests are spaced by the site's Crawl-delay (0.05 s).
    for pair in log.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(45),
            "requests closer than the Crawl-delay: {} then {}",
            pair[0].path,
            pair[1].path
        );
    }

    // The redirect to another origin on 127.0.0.1 is refused and reported, never followed.
    let refused = errors_for(&run, "/redirect");
    assert_eq!(refused.len(), 1, "{run}");
    assert!(
        refused[0].contains("127.0.0.1") && refused[0].contains("loopback"),
        "{}",
        refused[0]
    );
    assert!(
        internal_log.lock().expect("log").is_empty(),
        "the internal server was reached"
    );

    // The 50 MB page is cut at the 10 MiB limit and not stored.
    let huge = errors_for(&run, "/huge");
    assert_eq!(huge.len(), 1, "{run}");
    assert!(
        huge[0].contains("larger than the 10485760-byte limit"),
        "{}",
        huge[0]
    );
    let fetched = run["bytesFetched"].as_i64().expect("bytes");
    assert!(
        fetched < 11 * 1024 * 1024,
        "read {fetched} bytes of a 50 MB page"
    );

    // Main content only: no navigation, footer or script text.
    let a = docs
        .iter()
        .find(|(u, _)| u.ends_with("/docs/a"))
        .expect("/docs/a")
        .1;
    let text: String = chunks(&pool, a).await.into_iter().map(|(_, c)| c).collect();
    assert!(text.contains("pelican queue is empty"), "{text}");
    for absent in ["Site navigation menu", "Footer boilerplate", "script text"] {
        assert!(!text.contains(absent), "{absent} stored: {text}");
    }
    let orphan = docs
        .iter()
        .find(|(u, _)| u.ends_with("/orphan"))
        .expect("/orphan")
        .1;
    let file_type: String =
        sqlx::query_scalar("SELECT file_type FROM javari_knowledge_documents WHERE id = $1")
            .bind(orphan)
            .fetch_one(&pool)
            .await
            .expect("type");
    assert_eq!(
        file_type, "md",
        "markdown goes through the upload extractor"
    );

    // Second crawl: /changing changed, /vanishing gone.
    let changing = docs
        .iter()
        .find(|(u, _)| u.ends_with("/changing"))
        .expect("/changing")
        .1;
    let old_chunks = chunks(&pool, changing).await;
    assert!(old_chunks.iter().any(|(_, c)| c.contains("alphaold")));
    site.set(|s| {
        s.version = 1;
        s.vanished = true;
    });
    let run = crawl(&h, id).await;
    assert_eq!(run["pagesChanged"], 1, "{run}");
    assert_eq!(run["pagesStored"], 0, "{run}");
    assert_eq!(
        run["pagesUnchanged"], 3,
        "/docs/a and /docs/b (new ETags, same text) and /no-validators (no validators) \
         were fetched whole and skipped by their hash: {run}"
    );
    assert_eq!(run["pagesRemoved"], 0, "gone once is not gone yet: {run}");
    let new_chunks = chunks(&pool, changing).await;
    assert!(new_chunks.iter().any(|(_, c)| c.contains("bravonew")));
    assert!(new_chunks.iter().all(|(_, c)| !c.contains("alphaold")));
    let old_ids: Vec<Uuid> = old_chunks.iter().map(|(i, _)| *i).collect();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM javari_document_chunks WHERE id = ANY($1)")
            .bind(&old_ids)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(left, 0, "the changed page's old chunks are gone");
    let (_, found) = api(
        &h,
        "POST",
        "/api/javari/knowledge/search",
        &h.operator_token,
        Some(json!({"query": "zebra cluster alphaold", "threshold": 0.0, "limit": 20})),
    )
    .await;
    let results = found["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{found}");
    assert!(
        results.iter().all(|r| !r["content"]
            .as_str()
            .unwrap_or_default()
            .contains("alphaold")),
        "the old text is still found: {found}"
    );
    let docs2 = documents(&pool, id).await;
    assert_eq!(docs2, docs, "same documents (same ids): nothing duplicated");

    // Third crawl: /vanishing gone for two crawls is removed, with its chunks.
    let vanishing = docs
        .iter()
        .find(|(u, _)| u.ends_with("/vanishing"))
        .expect("/vanishing")
        .1;
    let run = crawl(&h, id).await;
    assert_eq!(run["pagesRemoved"], 1, "{run}");
    let docs3 = documents(&pool, id).await;
    assert_eq!(docs3.len(), 6);
    assert!(docs3.iter().all(|(u, _)| !u.ends_with("/vanishing")));
    assert!(chunks(&pool, vanishing).await.is_empty());

    // The API and the page show the source with its last crawl and next run.
    let (_, listed) = api(
        &h,
        "GET",
        &format!("/api/javari/web-crawls/{id}"),
        &h.operator_token,
        None,
    )
    .await;
    assert_eq!(listed["runs"].as_array().expect("runs").len(), 3);
    assert_eq!(listed["source"]["crawlFrequency"], "0 2 * * *");
    let next = listed["source"]["nextCrawlAt"].as_str().expect("next run");
    assert!(next.contains("T02:00:00"), "{next}");
    let html = h
        .http
        .get(h.url("/web-crawls"))
        .bearer_auth(&h.operator_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Ops docs") && html.contains("Crawl now"),
        "{html}"
    );
    assert!(
        html.contains("1 removed") && html.contains("private network allowed"),
        "{html}"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_second_crawl_of_an_unchanged_site_is_conditional_and_stores_nothing(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (site, _) = start_site(true).await;
    let id = source(&h, json!({"url": site.url("/")}), true).await;
    let first = crawl(&h, id).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["pagesStored"], 6, "{first}");
    let docs = documents(&pool, id).await;
    let mut before = Vec::new();
    for (_, doc) in &docs {
        before.push(chunks(&pool, *doc).await);
    }
    let updated: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT updated_at FROM javari_knowledge_documents WHERE web_crawl_id = $1 ORDER BY source_url",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .expect("updated");

    site.clear_log();
    let second = crawl(&h, id).await;
    let log = site.log();
    assert!(!log.is_empty());
    for request in &log {
        assert!(
            request.if_none_match.is_some() || request.if_modified_since.is_some(),
            "unconditional request for {}",
            request.path
        );
    }
    assert!(log.iter().any(|r| r.if_none_match.is_some()));
    assert!(log.iter().any(|r| r.if_modified_since.is_some()));
    assert_eq!(second["status"], "succeeded", "{second}");
    assert_eq!(second["pagesStored"], 0);
    assert_eq!(second["pagesChanged"], 0);
    assert_eq!(second["pagesNotModified"], 6, "{second}");
    assert_eq!(second["bytesFetched"], 0, "304s have no body");
    assert_eq!(documents(&pool, id).await, docs);
    let mut after = Vec::new();
    for (_, doc) in &docs {
        after.push(chunks(&pool, *doc).await);
    }
    assert_eq!(after, before, "not one chunk rewritten");
    let updated_after: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT updated_at FROM javari_knowledge_documents WHERE web_crawl_id = $1 ORDER BY source_url",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .expect("updated");
    assert_eq!(updated_after, updated);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_chat_with_knowledge_cites_the_crawled_page_by_url(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (site, _) = start_site(true).await;
    let id = source(&h, json!({"url": site.url("/"), "scope": "host"}), true).await;
    crawl(&h, id).await;
    let chat = h
        .chat(json!({"message": "How do I drain the pelican queue?", "includeKnowledge": true}))
        .await;
    let done = chat.complete();
    let citations = done["message"]["citations"].as_array().expect("citations");
    assert!(!citations.is_empty(), "{done}");
    assert_eq!(citations[0]["url"], site.url("/docs/a"), "{done}");
    assert_eq!(citations[0]["documentName"], site.url("/docs/a"));
    let sent = [&h.openai, &h.anthropic, &h.gemini]
        .iter()
        .filter_map(|p| p.last_chat_request())
        .map(|r| r.to_string())
        .collect::<String>();
    assert!(
        sent.contains(&site.url("/docs/a")) && sent.contains("pelican queue is empty"),
        "the page and its URL went into the prompt"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn loopback_is_refused_unless_an_admin_allowed_the_origin(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (site, _) = start_site(true).await;

    // Not allowed, by IP literal: refused before any request.
    let literal = source(&h, json!({"url": site.url("/")}), false).await;
    let run = crawl(&h, literal).await;
    assert_eq!(run["status"], "failed", "{run}");
    let errors = run["errors"].to_string();
    assert!(
        errors.contains("loopback") && errors.contains("refused"),
        "{errors}"
    );
    assert!(
        site.log().is_empty(),
        "the site was reached: {:?}",
        site.log()
    );

    // Not allowed, by host name: refused after DNS resolution.
    let by_name = site.url("/").replace("127.0.0.1", "localhost");
    let named = source(&h, json!({"url": by_name}), false).await;
    let run = crawl(&h, named).await;
    assert_eq!(run["status"], "failed", "{run}");
    let errors = run["errors"].to_string();
    assert!(
        errors.contains("localhost resolves to") && errors.contains("loopback"),
        "{errors}"
    );
    assert!(site.log().is_empty());

    // The allowance names one origin: allowing 127.0.0.1:PORT does not allow localhost:PORT.
    let path = format!("/api/javari/web-crawls/{literal}/private-network");
    let (status, _) = api(&h, "POST", &path, &h.operator_token, None).await;
    assert_eq!(status, 403, "only admins allow private networks");
    let (status, allowed) = api(&h, "POST", &path, &h.admin_token, None).await;
    assert_eq!(status, 200);
    assert_eq!(allowed["source"]["privateNetworkOrigin"], site.base.clone());
    let run = crawl(&h, literal).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let run = crawl(&h, named).await;
    assert_eq!(run["status"], "failed", "{run}");
    let (status, revoked) = api(&h, "DELETE", &path, &h.admin_token, None).await;
    assert_eq!(status, 200);
    assert!(revoked["source"]["privateNetworkOrigin"].is_null());

    // A redirect the scope allows (both URLs are in the list) is still refused by the
    // network policy: the allowance covers the source's own origin, not the target's.
    let (full, internal_log) = start_site(false).await;
    let internal = full.state.lock().expect("site").internal.clone();
    let listed = source(
        &h,
        json!({"url": full.url("/redirect"), "scope": "list",
               "urls": [full.url("/redirect"), format!("{internal}/stolen-metadata")]}),
        true,
    )
    .await;
    let run = crawl(&h, listed).await;
    let refused = errors_for(&run, "/redirect");
    assert_eq!(refused.len(), 1, "{run}");
    assert!(
        refused[0].contains("redirect to") && refused[0].contains("loopback address: refused"),
        "{}",
        refused[0]
    );
    // Requested directly, the internal origin is refused too (its robots.txt first).
    let direct = errors_for(&run, "/robots.txt");
    assert!(
        direct
            .iter()
            .any(|e| e.contains(&internal) && e.contains("loopback address: refused")),
        "{run}"
    );
    assert!(
        internal_log.lock().expect("log").is_empty(),
        "the internal server was reached"
    );

    // Bad input is refused with a reason.
    let cases = [
        (
            json!({"url": "ftp://example.com/"}),
            400,
            "only http and https",
        ),
        (
            json!({"url": "https://example.com/", "crawlFrequency": "* * * * *"}),
            400,
            "more often",
        ),
        (
            json!({"url": "https://example.com/", "maxPages": 100000}),
            400,
            "maxPages",
        ),
        (
            json!({"url": "https://example.com/", "allowPrivateNetwork": true}),
            403,
            "admin",
        ),
        (
            json!({"url": "https://example.com/", "bogus": 1}),
            422,
            "unknown field",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = api(
            &h,
            "POST",
            "/api/javari/web-crawls",
            &h.operator_token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{body}: {answer}"
        );
    }
    let (status, _) = api(
        &h,
        "POST",
        "/api/javari/web-crawls",
        &h.viewer_token,
        Some(json!({"url": "https://example.com/"})),
    )
    .await;
    assert_eq!(status, 403, "viewers do not create sources");
    let (status, _) = api(
        &h,
        "GET",
        &format!("/api/javari/web-crawls/{literal}"),
        &h.viewer_token,
        None,
    )
    .await;
    assert_eq!(status, 404, "another user's source is not shown");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn one_crawl_per_source_and_one_scheduler_at_a_time(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (site, _) = start_site(true).await;
    let id = source(&h, json!({"url": site.url("/"), "scope": "list", "urls": [site.url("/docs/a"), site.url("/docs/b")]}), true).await;

    // A crawl of the source running elsewhere (its lock held): crawl now answers 409.
    let mut other = pool.acquire().await.expect("conn").detach();
    let key = format!("javari_web_crawl:{id}");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut other)
        .await
        .expect("lock");
    let (status, busy) = api(
        &h,
        "POST",
        &format!("/api/javari/web-crawls/{id}/crawl"),
        &h.operator_token,
        None,
    )
    .await;
    assert_eq!(status, 409, "{busy}");
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(&key)
        .execute(&mut other)
        .await
        .expect("unlock");

    // Due now. Another replica holds the scheduler's lock: this one skips the tick.
    sqlx::query(
        "UPDATE javari_web_crawls SET next_crawl_at = now() - interval '1 minute' WHERE id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .expect("due");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('javari_web_crawls:scheduler', 0))")
        .execute(&mut other)
        .await
        .expect("lock");
    let limits = h.state.settings.crawl_limits.clone();
    let skipped = sweep(&pool, &limits, None).await.expect("sweep");
    assert!(skipped.skipped && skipped.runs.is_empty());
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended('javari_web_crawls:scheduler', 0))")
        .execute(&mut other)
        .await
        .expect("unlock");

    // Two replicas tick at once: the source is crawled once.
    let (a, b) = tokio::join!(sweep(&pool, &limits, None), sweep(&pool, &limits, None));
    let (a, b) = (a.expect("sweep a"), b.expect("sweep b"));
    assert_eq!(a.runs.len() + b.runs.len(), 1, "{a:?} {b:?}");
    let run = a.runs.iter().chain(&b.runs).next().expect("run");
    assert_eq!(run.trigger, "schedule");
    assert_eq!(
        run.pages_stored, 2,
        "the list scope crawls exactly its URLs: {run:?}"
    );
    assert!(
        site.log().iter().all(|r| r.path != "/"),
        "the start page is not in the list"
    );
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT next_crawl_at FROM javari_web_crawls WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("next");
    assert!(next > chrono::Utc::now());
    assert_eq!(next.format("%H:%M:%S").to_string(), "02:00:00");
    // Not due any more: the next tick does nothing.
    assert!(
        sweep(&pool, &limits, None)
            .await
            .expect("sweep")
            .runs
            .is_empty()
    );
}

/// Signs in through the form; the session cookie and the CSRF token of `/web-crawls`.
async fn sign_in(h: &Harness, email: &str) -> (String, String) {
    let page = h
        .http
        .get(h.url("/login"))
        .send()
        .await
        .expect("login page");
    let login_cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let html = page.text().await.expect("html");
    let response = h
        .http
        .post(h.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("email", email),
            ("password", support::PASSWORD),
            ("csrf_token", &hidden_value(&html, "csrf_token")),
            ("next", "/web-crawls"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status().as_u16(), 303, "signed in");
    let session = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let html = h
        .http
        .get(h.url("/web-crawls"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    (session, hidden_value(&html, "csrf_token"))
}

fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_page_forms_follow_the_roles_and_the_csrf_token(pool: PgPool) {
    let h = Harness::with_settings(pool.clone(), crawl_settings()).await;
    let (session, csrf) = sign_in(&h, "operator@example.test").await;
    let form = |token: Option<&str>| {
        let mut fields = vec![
            ("url", "https://docs.example.com/guide/"),
            ("name", "Guide"),
            ("scope", "prefix"),
            ("max_depth", "2"),
            ("max_pages", "50"),
            ("crawl_frequency", "30 6 * * MON"),
        ];
        if let Some(token) = token {
            fields.push(("csrf_token", token));
        }
        h.http
            .post(h.url("/web-crawls"))
            .header("cookie", &session)
            .form(&fields)
    };
    let without = form(None).send().await.expect("post");
    assert_eq!(without.status().as_u16(), 403, "no CSRF token, no source");
    let with = form(Some(&csrf)).send().await.expect("post");
    assert_eq!(with.status().as_u16(), 303);
    assert_eq!(with.headers()["location"], "/web-crawls?notice=created");
    let (_, listed) = api(&h, "GET", "/api/javari/web-crawls", &h.operator_token, None).await;
    let sources = listed["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{listed}");
    assert_eq!(sources[0]["scope"], "prefix");
    assert_eq!(sources[0]["pathPrefix"], "/guide/");
    assert_eq!(sources[0]["maxDepth"], 2);
    assert_eq!(sources[0]["crawlFrequency"], "30 6 * * MON");
    assert!(sources[0]["lastRun"].is_null());
    let html = h
        .http
        .get(h.url("/web-crawls"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Guide") && html.contains("never") && html.contains("Add a source"));
    assert!(
        !html.contains("Allow private network"),
        "operators cannot allow it"
    );

    // A viewer sees the page without forms and cannot post one.
    let html = h
        .http
        .get(h.url("/web-crawls"))
        .bearer_auth(&h.viewer_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!html.contains("Add a source") && !html.contains("Crawl now"));
    assert!(!html.contains("Guide"), "not the viewer's source");
    let refused = h
        .http
        .post(h.url("/web-crawls"))
        .bearer_auth(&h.viewer_token)
        .form(&[("url", "https://a.example.com/")])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    // Admins see every source, with the private-network button.
    let html = h
        .http
        .get(h.url("/web-crawls"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Guide") && html.contains("Allow private network"));
    let id = sources[0]["id"].as_str().expect("id");
    let path = format!("/api/javari/web-crawls/{id}");
    let (status, updated) = api(
        &h,
        "PUT",
        &path,
        &h.operator_token,
        Some(json!({"url": "https://docs.example.com/guide/", "name": "Guide v2", "maxPages": 10})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["source"]["name"], "Guide v2");
    assert_eq!(
        updated["source"]["scope"], "host",
        "left out: the default again"
    );
    assert_eq!(updated["source"]["maxPages"], 10);
    let (status, _) = api(
        &h,
        "PUT",
        &path,
        &h.viewer_token,
        Some(json!({"url": "https://x.test/"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, bad) = api(
        &h,
        "POST",
        "/api/javari/web-crawls",
        &h.operator_token,
        Some(json!({"url": "https://docs.example.com/", "projectId": Uuid::new_v4()})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = api(
        &h,
        "DELETE",
        &format!("/api/javari/web-crawls/{id}"),
        &h.operator_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api(
        &h,
        "GET",
        &format!("/api/javari/web-crawls/{id}"),
        &h.operator_token,
        None,
    )
    .await;
    assert_eq!(status, 404);
}
