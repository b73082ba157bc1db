//! One crawl of one source: robots.txt first, then the sitemaps and pages in scope, breadth
//! first, each conditional on what the last crawl saw; changed pages re-indexed, pages gone
//! for two crawls removed; the counts and errors written to the run's row.

use std::collections::{HashMap, HashSet, VecDeque};

use reqwest::Url;
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use super::address::{NetworkPolicy, origin_of};
use super::error::CrawlError;
use super::fetch::{FetchError, FetchLimits, Fetched, Fetcher, Validators};
use super::page::{PageText, kind_of, page_text, text_hash};
use super::robots::{MAX_ROBOTS_BYTES, Robots, Rules};
use super::schedule::next_crawl;
use super::scope::{Scope, ScopeKind, default_prefix, normalize, resolve_link};
use super::sitemap;
use super::store::{self, PageContent, PageError, PageState, Run, Source};
use crate::knowledge::{CHUNK_OVERLAP, CHUNK_SIZE, chunk};

/// Errors kept in a run's row at most (the count is in `pages_failed`).
pub const MAX_RUN_ERRORS: usize = 100;
/// Sitemaps read per crawl at most (an index and its children).
pub const MAX_SITEMAPS: usize = 10;
/// Crawls after which a page no longer found is removed.
pub const MISSES_BEFORE_REMOVAL: i32 = 2;

/// A finished crawl.
#[derive(Debug, Clone)]
pub struct CrawlOutcome {
    pub run: Run,
    /// Documents stored or changed by this crawl (to compute their embeddings).
    pub documents: Vec<Uuid>,
}

struct Crawl<'a> {
    pool: &'a PgPool,
    source: &'a Source,
    scope: Scope,
    fetcher: Fetcher,
    known: HashMap<String, PageState>,
    robots: HashMap<String, Rules>,
    run: Run,
    documents: Vec<Uuid>,
    /// Pages answered this crawl (or failed transiently): not missed.
    seen: HashSet<String>,
    queue: VecDeque<(Url, i32)>,
    queued: HashSet<String>,
    sitemaps_read: usize,
    /// Pages requested (robots.txt and sitemaps not counted), against `max_pages`.
    pages_requested: i32,
    truncated: bool,
}

/// Parses a source's stored URL, for the crawler and for validation.
pub fn parse_url(text: &str) -> Result<Url, CrawlError> {
    Url::parse(text.trim()).map_err(|e| CrawlError::InvalidUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })
}

/// Crawls `source` into the knowledge base under the run `run` (created by the caller).
/// `on_stored` gets the documents stored or changed (to compute their embeddings) before
/// the run is written as finished.
pub async fn crawl(
    pool: &PgPool,
    source: &Source,
    run: Run,
    limits: &FetchLimits,
    on_stored: Option<&OnStored>,
) -> Result<CrawlOutcome, CrawlError> {
    let span = tracing::info_span!("web_crawl", source = %source.id, run = %run.id);
    crawl_inner(pool, source, run, limits, on_stored)
        .instrument(span)
        .await
}

/// Called with the source's owner and the documents a crawl stored or changed.
pub type OnStored = std::sync::Arc<
    dyn Fn(Uuid, Vec<Uuid>) -> futures::future::BoxFuture<'static, ()> + Send + Sync,
>;

async fn crawl_inner(
    pool: &PgPool,
    source: &Source,
    run: Run,
    limits: &FetchLimits,
    on_stored: Option<&OnStored>,
) -> Result<CrawlOutcome, CrawlError> {
    let start = parse_url(&source.url)?;
    let kind = ScopeKind::parse(&source.scope)
        .ok_or_else(|| CrawlError::Invalid(format!("unknown scope {}", source.scope)))?;
    let list: Vec<Url> = source
        .urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<_, _>>()?;
    let prefix = source
        .path_prefix
        .clone()
        .unwrap_or_else(|| default_prefix(&start));
    let policy = NetworkPolicy {
        private_origin: source.private_network_origin.clone(),
    };
    let fetcher =
        Fetcher::new(policy, limits.clone()).map_err(|e| CrawlError::Client(e.to_string()))?;
    let mut crawl = Crawl {
        pool,
        source,
        scope: Scope::new(kind, &start, Some(&prefix), &list),
        fetcher,
        known: store::load_pages(pool, source).await?,
        robots: HashMap::new(),
        run,
        documents: Vec::new(),
        seen: HashSet::new(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        sitemaps_read: 0,
        pages_requested: 0,
        truncated: false,
    };
    let fatal = crawl.go(kind, &start, &list).await;
    if let Some(on_stored) = on_stored
        && !crawl.documents.is_empty()
    {
        on_stored(source.user_id, crawl.documents.clone()).await;
    }
    crawl.finish(fatal).await
}

impl Crawl<'_> {
    async fn go(&mut self, kind: ScopeKind, start: &Url, list: &[Url]) -> Result<(), CrawlError> {
        match kind {
            ScopeKind::Host | ScopeKind::Prefix => {
                self.enqueue(normalize(start), 0);
                let robots = self.robots_for(start).await?;
                for sitemap in robots.sitemaps {
                    if let Ok(url) = Url::parse(&sitemap)
                        && origin_of(&url) == origin_of(start)
                    {
                        self.read_sitemap(&url, 1).await?;
                    }
                }
            }
            ScopeKind::List => {
                for url in list {
                    self.enqueue(normalize(url), 0);
                }
            }
            ScopeKind::Sitemap => {
                self.robots_for(start).await?;
                self.read_sitemap(start, 0).await?;
            }
        }
        while let Some((url, depth)) = self.queue.pop_front() {
            if self.pages_requested >= self.source.max_pages {
                self.truncated = true;
                break;
            }
            self.robots_for(&url).await?;
            if !self.robots_allow(&url) {
                self.run.robots_excluded += 1;
                continue;
            }
            self.pages_requested += 1;
            self.page(&url, depth).await?;
        }
        Ok(())
    }

    fn enqueue(&mut self, url: Url, depth: i32) {
        if self.scope.contains(&url) && self.queued.insert(url.to_string()) {
            self.queue.push_back((url, depth));
        }
    }

    fn error(&mut self, url: &str, error: impl ToString) {
        let error = error.to_string();
        tracing::info!(%url, %error, "crawl error");
        if self.run.errors.len() < MAX_RUN_ERRORS {
            self.run.errors.0.push(PageError {
                url: url.to_owned(),
                error,
            });
        }
    }

    fn robots_allow(&self, url: &Url) -> bool {
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        origin_of(url)
            .and_then(|o| self.robots.get(&o))
            .is_none_or(|rules| rules.allowed(&path))
    }

    fn state(&self, url: &str, kind: &str) -> PageState {
        self.known.get(url).cloned().unwrap_or_else(|| PageState {
            url: url.to_owned(),
            kind: kind.to_owned(),
            ..PageState::default()
        })
    }

    /// The robots.txt of `url`'s origin, read once per crawl (conditionally). Its rules are
    /// kept for the origin; the parsed file is returned for its sitemaps.
    async fn robots_for(&mut self, url: &Url) -> Result<Robots, CrawlError> {
        let Some(origin) = origin_of(url) else {
            return Ok(Robots::default());
        };
        if self.robots.contains_key(&origin) {
            return Ok(Robots::default());
        }
        let Ok(robots_url) = url.join("/robots.txt") else {
            return Ok(Robots::default());
        };
        let key = robots_url.to_string();
        let mut state = self.state(&key, "robots");
        let validators = validators_of(&state);
        let same_origin = |u: &Url| {
            if origin_of(u) == origin_of(&robots_url) {
                Ok(())
            } else {
                Err("robots.txt redirects to another site".to_owned())
            }
        };
        let product = self.fetcher.limits().product_token().to_owned();
        let result = self
            .fetcher
            .fetch(&robots_url, &validators, &same_origin)
            .await;
        let (rules, parsed) = match result {
            Ok(Fetched::Body {
                body, validators, ..
            }) => {
                let cut = &body[..body.len().min(MAX_ROBOTS_BYTES)];
                let text = String::from_utf8_lossy(cut).replace('\0', "");
                let parsed = Robots::parse(&text);
                state.etag = validators.etag;
                state.last_modified = validators.last_modified;
                state.body = Some(text);
                state.last_error = None;
                store::save_page(self.pool, self.source, &state).await?;
                (parsed.rules_for(&product), parsed)
            }
            Ok(Fetched::NotModified { .. }) => {
                let parsed = Robots::parse(state.body.as_deref().unwrap_or_default());
                (parsed.rules_for(&product), parsed)
            }
            Ok(Fetched::Gone { .. }) | Err(FetchError::Status(400..=499)) => {
                // No robots.txt: everything is allowed (RFC 9309 §2.3.1.3).
                (Rules::allow_all(), Robots::default())
            }
            Err(e) => {
                // Unreachable: nothing on this site is crawled (RFC 9309 §2.3.1.4).
                self.error(
                    &key,
                    format!("robots.txt unreachable, the site is skipped: {e}"),
                );
                (Rules::disallow_all(), Robots::default())
            }
        };
        if let Some(delay) = rules.crawl_delay {
            self.fetcher.set_crawl_delay(&origin, delay);
        }
        self.robots.insert(origin, rules);
        Ok(parsed)
    }

    async fn read_sitemap(&mut self, url: &Url, depth: i32) -> Result<(), CrawlError> {
        if self.sitemaps_read >= MAX_SITEMAPS
            || origin_of(url) != origin_of(&parse_url(&self.source.url)?)
        {
            return Ok(());
        }
        self.sitemaps_read += 1;
        let key = normalize(url).to_string();
        let mut state = self.state(&key, "sitemap");
        let validators = validators_of(&state);
        let in_site = |u: &Url| {
            if origin_of(u) == origin_of(url) {
                Ok(())
            } else {
                Err("the sitemap redirects to another site".to_owned())
            }
        };
        let (pages, nested) = match self.fetcher.fetch(url, &validators, &in_site).await {
            Ok(Fetched::Body {
                body, validators, ..
            }) => {
                let parsed = sitemap::parse(&String::from_utf8_lossy(&body));
                state.etag = validators.etag;
                state.last_modified = validators.last_modified;
                state.links = parsed
                    .pages
                    .iter()
                    .chain(&parsed.sitemaps)
                    .cloned()
                    .collect();
                state.last_error = None;
                store::save_page(self.pool, self.source, &state).await?;
                (parsed.pages, parsed.sitemaps)
            }
            Ok(Fetched::NotModified { .. }) => (state.links.clone(), Vec::new()),
            Ok(Fetched::Gone { status }) => {
                self.error(&key, format!("sitemap: HTTP {status}"));
                return Ok(());
            }
            Err(e) => {
                self.error(&key, format!("sitemap: {e}"));
                return Ok(());
            }
        };
        for page in pages {
            if let Ok(page) = Url::parse(&page) {
                self.enqueue(normalize(&page), depth);
            }
        }
        for child in nested {
            if let Ok(child) = Url::parse(&child) {
                Box::pin(self.read_sitemap(&child, depth)).await?;
            }
        }
        Ok(())
    }

    async fn page(&mut self, url: &Url, depth: i32) -> Result<(), CrawlError> {
        let key = url.to_string();
        let mut state = self.state(&key, "page");
        let validators = validators_of(&state);
        let scope = self.scope.clone();
        let robots = self.robots.clone();
        let hop_allowed = |u: &Url| {
            if !scope.contains(u) {
                return Err("outside the source's scope".to_owned());
            }
            let path = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            };
            match origin_of(u).and_then(|o| robots.get(&o)) {
                Some(rules) if !rules.allowed(&path) => Err("disallowed by robots.txt".to_owned()),
                _ => Ok(()),
            }
        };
        let result = self.fetcher.fetch(url, &validators, &hop_allowed).await;
        match result {
            Ok(Fetched::NotModified { .. }) => {
                self.run.pages_not_modified += 1;
                self.seen.insert(key);
                let links = state.links.clone();
                self.follow(url, &links, depth);
            }
            Ok(Fetched::Gone { status }) => {
                tracing::info!(%url, status, "page gone");
            }
            Ok(Fetched::Body {
                url: final_url,
                content_type,
                body,
                validators,
            }) => {
                self.seen.insert(key.clone());
                state.etag = validators.etag;
                state.last_modified = validators.last_modified;
                let Some(kind) = kind_of(content_type.as_deref(), &final_url) else {
                    self.run.pages_failed += 1;
                    let ct = content_type.unwrap_or_else(|| "none".into());
                    self.error(&key, format!("content type {ct} is not indexed"));
                    state.last_error = Some(format!("content type {ct}"));
                    store::save_page(self.pool, self.source, &state).await?;
                    return Ok(());
                };
                let size = body.len();
                let extracted = tokio::task::spawn_blocking(move || page_text(kind, &body))
                    .await
                    .map_err(|e| CrawlError::Invalid(e.to_string()))?;
                match extracted {
                    Ok(text) => self.index(&final_url, depth, state, text, size).await?,
                    Err(e) => {
                        self.run.pages_failed += 1;
                        self.error(&key, &e);
                        state.last_error = Some(e.to_string());
                        store::save_page(self.pool, self.source, &state).await?;
                    }
                }
            }
            Err(e) => {
                // Kept: a page that fails now (timeout, 5xx, refused) is not "gone".
                self.seen.insert(key.clone());
                self.run.pages_failed += 1;
                self.error(&key, &e);
                state.last_error = Some(e.to_string());
                store::save_page(self.pool, self.source, &state).await?;
            }
        }
        Ok(())
    }

    async fn index(
        &mut self,
        url: &Url,
        depth: i32,
        mut state: PageState,
        text: PageText,
        size: usize,
    ) -> Result<(), CrawlError> {
        if !text.nofollow {
            self.follow(url, &text.links, depth);
        }
        state.links = text
            .links
            .iter()
            .filter_map(|l| resolve_link(url, l))
            .map(|u| u.to_string())
            .collect();
        state.last_error = None;
        if text.noindex {
            // Not stored; an earlier copy goes.
            state.content_hash = None;
            store::save_page(self.pool, self.source, &state).await?;
            if state.document_id.is_some() {
                store::remove_pages(self.pool, self.source, std::slice::from_ref(&state.url))
                    .await?;
                self.run.pages_removed += 1;
            }
            return Ok(());
        }
        let hash = text_hash(&text);
        if state.content_hash.as_deref() == Some(hash.as_str()) && state.document_id.is_some() {
            self.run.pages_unchanged += 1;
            store::save_page(self.pool, self.source, &state).await?;
            return Ok(());
        }
        let chunks = chunk(&text.text, CHUNK_SIZE, CHUNK_OVERLAP);
        if chunks.is_empty() {
            self.run.pages_failed += 1;
            self.error(url.as_str(), "the page has no text to index");
            state.last_error = Some("no text".into());
            store::save_page(self.pool, self.source, &state).await?;
            return Ok(());
        }
        state.content_hash = Some(hash);
        let (document, new) = store::store_page(
            self.pool,
            self.source,
            &PageContent {
                url: url.as_str(),
                title: text.title.as_deref(),
                file_type: text.file_type,
                size,
                chunks: &chunks,
            },
            &mut state,
        )
        .await?;
        if new {
            self.run.pages_stored += 1;
        } else {
            self.run.pages_changed += 1;
        }
        self.documents.push(document);
        Ok(())
    }

    fn follow(&mut self, base: &Url, links: &[String], depth: i32) {
        if !self.scope.kind().follows_links() || depth >= self.source.max_depth {
            return;
        }
        for link in links {
            if let Some(url) = resolve_link(base, link) {
                self.enqueue(url, depth + 1);
            }
        }
    }

    /// Counts misses and removes pages gone for two crawls, then writes the run.
    async fn finish(mut self, fatal: Result<(), CrawlError>) -> Result<CrawlOutcome, CrawlError> {
        if let Err(e) = &fatal {
            self.run.error = Some(e.to_string());
        }
        let answered = self.run.pages_not_modified
            + self.run.pages_unchanged
            + self.run.pages_stored
            + self.run.pages_changed;
        // Misses count only after a crawl that went through the whole site; a crawl that
        // reached nothing (the site down) or stopped at the page limit proves nothing.
        if fatal.is_ok() && !self.truncated && (answered > 0 || self.run.errors.is_empty()) {
            let mut remove = Vec::new();
            let (mut missed_urls, mut missed_counts) = (Vec::new(), Vec::new());
            for (url, page) in &self.known {
                if page.kind != "page" {
                    continue;
                }
                let missed = if self.seen.contains(url) {
                    0
                } else {
                    page.missed_crawls + 1
                };
                if missed >= MISSES_BEFORE_REMOVAL {
                    remove.push(url.clone());
                } else if missed != page.missed_crawls {
                    missed_urls.push(url.clone());
                    missed_counts.push(missed);
                }
            }
            self.run.pages_removed += i32::try_from(
                remove
                    .iter()
                    .filter(|u| self.known.get(*u).is_some_and(|p| p.document_id.is_some()))
                    .count(),
            )
            .unwrap_or(i32::MAX);
            store::remove_pages(self.pool, self.source, &remove).await?;
            store::set_missed(self.pool, self.source, &missed_urls, &missed_counts).await?;
        }
        self.run.requests = i32::try_from(self.fetcher.requests).unwrap_or(i32::MAX);
        self.run.bytes_fetched = i64::try_from(self.fetcher.bytes).unwrap_or(i64::MAX);
        self.run.status = if fatal.is_err() || (answered == 0 && !self.run.errors.is_empty()) {
            "failed"
        } else if self.run.errors.is_empty() {
            "succeeded"
        } else {
            "partial"
        }
        .to_owned();
        let next = next_crawl(&self.source.crawl_frequency, chrono::Utc::now()).ok();
        let run = store::finish_run(self.pool, self.source, &self.run, next).await?;
        Ok(CrawlOutcome {
            run,
            documents: self.documents,
        })
    }
}

fn validators_of(state: &PageState) -> Validators {
    Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    }
}
