//! Sources, runs and page states in PostgreSQL, and crawled pages in the knowledge base.
//! Every statement runs as the source's owner (`javari.user_id`), so row-level security
//! applies as for uploads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::error::CrawlError;
use crate::db::{Actor, act_as, begin};

/// A source, as stored in `javari_web_crawls`.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: String,
    pub url: String,
    pub scope: String,
    pub path_prefix: Option<String>,
    pub urls: Vec<String>,
    pub max_depth: i32,
    pub max_pages: i32,
    pub crawl_frequency: String,
    pub is_active: bool,
    pub private_network_origin: Option<String>,
    pub private_network_allowed_by: Option<Uuid>,
    pub last_crawled_at: Option<DateTime<Utc>>,
    pub next_crawl_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const SOURCE_COLUMNS: &str = "id, user_id, project_id, name, url, scope, path_prefix, urls, \
     max_depth, max_pages, crawl_frequency, is_active, private_network_origin, \
     private_network_allowed_by, last_crawled_at, next_crawl_at, created_at";

/// A source to create or the new values of one (checked by [`super::validate_source`]).
#[derive(Clone, Debug)]
pub struct SourceFields {
    pub project_id: Option<Uuid>,
    pub name: String,
    pub url: String,
    pub scope: String,
    pub path_prefix: Option<String>,
    pub urls: Vec<String>,
    pub max_depth: i32,
    pub max_pages: i32,
    pub crawl_frequency: String,
    pub is_active: bool,
    pub next_crawl_at: DateTime<Utc>,
}

/// One crawl, as stored in `javari_web_crawl_runs`.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: Uuid,
    pub web_crawl_id: Uuid,
    pub trigger: String,
    pub status: String,
    pub requests: i32,
    pub pages_stored: i32,
    pub pages_changed: i32,
    pub pages_unchanged: i32,
    pub pages_not_modified: i32,
    pub pages_removed: i32,
    pub pages_failed: i32,
    pub robots_excluded: i32,
    pub bytes_fetched: i64,
    #[schema(value_type = Vec<PageError>)]
    pub errors: sqlx::types::Json<Vec<PageError>>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const RUN_COLUMNS: &str = "id, web_crawl_id, trigger, status, requests, pages_stored, \
     pages_changed, pages_unchanged, pages_not_modified, pages_removed, pages_failed, \
     robots_excluded, bytes_fetched, errors, error, started_at, finished_at";

/// One URL that went wrong in a crawl.
#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct PageError {
    pub url: String,
    pub error: String,
}

/// What the crawler remembers of a URL.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct PageState {
    pub url: String,
    pub kind: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_hash: Option<String>,
    pub links: Vec<String>,
    pub body: Option<String>,
    pub document_id: Option<Uuid>,
    pub missed_crawls: i32,
    pub last_error: Option<String>,
}

/// Runs the rest of the transaction as `user_id` (row-level security).
pub(crate) async fn as_owner(conn: &mut PgConnection, user_id: Uuid) -> Result<(), sqlx::Error> {
    act_as(conn, Actor::User(user_id)).await
}

pub async fn create_source(
    pool: &PgPool,
    owner: Uuid,
    f: &SourceFields,
) -> Result<Source, CrawlError> {
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, owner).await?;
    let sql = format!(
        "INSERT INTO javari_web_crawls (user_id, project_id, name, url, scope, path_prefix,
             urls, max_depth, max_pages, crawl_frequency, is_active, next_crawl_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {SOURCE_COLUMNS}"
    );
    let source = sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(f.project_id)
        .bind(&f.name)
        .bind(&f.url)
        .bind(&f.scope)
        .bind(&f.path_prefix)
        .bind(&f.urls)
        .bind(f.max_depth)
        .bind(f.max_pages)
        .bind(&f.crawl_frequency)
        .bind(f.is_active)
        .bind(f.next_crawl_at)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(source)
}

/// Replaces a source's settings. An admin's private-network allowance names one origin, so
/// it keeps applying to that origin only, whatever the new URL.
pub async fn update_source(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    f: &SourceFields,
) -> Result<Source, CrawlError> {
    let sql = format!(
        "UPDATE javari_web_crawls SET project_id = $2, name = $3, url = $4, scope = $5,
             path_prefix = $6, urls = $7, max_depth = $8, max_pages = $9,
             crawl_frequency = $10, is_active = $11, next_crawl_at = $12
         WHERE id = $1 RETURNING {SOURCE_COLUMNS}"
    );
    let mut tx = begin(pool, actor).await?;
    let source = sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(f.project_id)
        .bind(&f.name)
        .bind(&f.url)
        .bind(&f.scope)
        .bind(&f.path_prefix)
        .bind(&f.urls)
        .bind(f.max_depth)
        .bind(f.max_pages)
        .bind(&f.crawl_frequency)
        .bind(f.is_active)
        .bind(f.next_crawl_at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CrawlError::NotFound)?;
    tx.commit().await?;
    Ok(source)
}

/// A source `actor` may see (an admin: any).
pub async fn get_source(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Source, CrawlError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM javari_web_crawls WHERE id = $1");
    let mut tx = begin(pool, actor).await?;
    let source = sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CrawlError::NotFound)?;
    tx.commit().await?;
    Ok(source)
}

/// The user's sources (an admin: every source), by name.
pub async fn list_sources(pool: &PgPool, actor: Actor) -> Result<Vec<Source>, CrawlError> {
    let owner = match actor {
        Actor::User(id) => Some(id),
        Actor::Admin(_) => None,
    };
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM javari_web_crawls
         WHERE $1::uuid IS NULL OR user_id = $1 ORDER BY name, id"
    );
    let mut tx = begin(pool, actor).await?;
    let sources = sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(sources)
}

/// Deletes a source with its runs, page states and crawled documents.
pub async fn delete_source(pool: &PgPool, actor: Actor, id: Uuid) -> Result<bool, CrawlError> {
    let mut tx = begin(pool, actor).await?;
    let done = sqlx::query("DELETE FROM javari_web_crawls WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Sets (an admin's `Some(origin)`) or clears the origin allowed on a private network.
pub async fn set_private_origin(
    pool: &PgPool,
    id: Uuid,
    origin: Option<&str>,
    admin: Uuid,
) -> Result<Source, CrawlError> {
    let sql = format!(
        "UPDATE javari_web_crawls SET private_network_origin = $2,
             private_network_allowed_by = CASE WHEN $2::text IS NULL THEN NULL ELSE $3 END
         WHERE id = $1 RETURNING {SOURCE_COLUMNS}"
    );
    let mut tx = begin(pool, Actor::Admin(admin)).await?;
    let source = sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(origin)
        .bind(admin)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CrawlError::NotFound)?;
    tx.commit().await?;
    Ok(source)
}

/// Active sources whose next crawl is due, earliest first, at most `limit`: every user's,
/// through the owner's function (the schedule acts for no user; each crawl then runs as its
/// source's owner).
pub async fn due_sources(pool: &PgPool, limit: i64) -> Result<Vec<Source>, CrawlError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM javari_due_web_crawls($1)");
    Ok(sqlx::query_as::<_, Source>(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

pub async fn create_run(pool: &PgPool, source: &Source, trigger: &str) -> Result<Run, CrawlError> {
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    let sql = format!(
        "INSERT INTO javari_web_crawl_runs (web_crawl_id, user_id, trigger)
         VALUES ($1, $2, $3) RETURNING {RUN_COLUMNS}"
    );
    let run = sqlx::query_as::<_, Run>(sqlx::AssertSqlSafe(sql))
        .bind(source.id)
        .bind(source.user_id)
        .bind(trigger)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(run)
}

/// Writes a finished run's counts and moves the source's schedule on, in one transaction.
pub async fn finish_run(
    pool: &PgPool,
    source: &Source,
    run: &Run,
    next_crawl_at: Option<DateTime<Utc>>,
) -> Result<Run, CrawlError> {
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    let sql = format!(
        "UPDATE javari_web_crawl_runs SET status = $2, requests = $3, pages_stored = $4,
             pages_changed = $5, pages_unchanged = $6, pages_not_modified = $7,
             pages_removed = $8, pages_failed = $9, robots_excluded = $10,
             bytes_fetched = $11, errors = $12, error = $13, finished_at = now()
         WHERE id = $1 RETURNING {RUN_COLUMNS}"
    );
    let stored = sqlx::query_as::<_, Run>(sqlx::AssertSqlSafe(sql))
        .bind(run.id)
        .bind(&run.status)
        .bind(run.requests)
        .bind(run.pages_stored)
        .bind(run.pages_changed)
        .bind(run.pages_unchanged)
        .bind(run.pages_not_modified)
        .bind(run.pages_removed)
        .bind(run.pages_failed)
        .bind(run.robots_excluded)
        .bind(run.bytes_fetched)
        .bind(&run.errors)
        .bind(&run.error)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE javari_web_crawls SET last_crawled_at = now(),
             next_crawl_at = coalesce($2, next_crawl_at)
         WHERE id = $1",
    )
    .bind(source.id)
    .bind(next_crawl_at)
    .execute(&mut *tx)
    .await?;
    // The history is bounded: the newest runs of each source are kept.
    sqlx::query(
        "DELETE FROM javari_web_crawl_runs WHERE web_crawl_id = $1 AND id NOT IN (
             SELECT id FROM javari_web_crawl_runs WHERE web_crawl_id = $1
             ORDER BY started_at DESC LIMIT $2)",
    )
    .bind(source.id)
    .bind(RUNS_KEPT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Runs kept per source.
pub const RUNS_KEPT: i64 = 100;
/// Sources one user may own.
pub const MAX_SOURCES_PER_OWNER: i64 = 100;

/// How many sources `owner` has.
pub async fn count_sources(pool: &PgPool, owner: Uuid) -> Result<i64, CrawlError> {
    let mut tx = begin(pool, Actor::User(owner)).await?;
    let count = sqlx::query_scalar("SELECT count(*) FROM javari_web_crawls WHERE user_id = $1")
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(count)
}

/// A source's latest runs, newest first.
pub async fn list_runs(
    pool: &PgPool,
    actor: Actor,
    source_id: Uuid,
    limit: i64,
) -> Result<Vec<Run>, CrawlError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM javari_web_crawl_runs WHERE web_crawl_id = $1
         ORDER BY started_at DESC, id LIMIT $2"
    );
    let mut tx = begin(pool, actor).await?;
    let runs = sqlx::query_as::<_, Run>(sqlx::AssertSqlSafe(sql))
        .bind(source_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(runs)
}

pub async fn get_run(
    pool: &PgPool,
    actor: Actor,
    source_id: Uuid,
    run_id: Uuid,
) -> Result<Run, CrawlError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM javari_web_crawl_runs WHERE web_crawl_id = $1 AND id = $2"
    );
    let mut tx = begin(pool, actor).await?;
    let run = sqlx::query_as::<_, Run>(sqlx::AssertSqlSafe(sql))
        .bind(source_id)
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CrawlError::NotFound)?;
    tx.commit().await?;
    Ok(run)
}

/// Runs left 'running' by a crash of the process that ran them are marked failed.
pub async fn fail_abandoned_runs(pool: &PgPool, source: &Source) -> Result<(), CrawlError> {
    let mut tx = begin(pool, Actor::User(source.user_id)).await?;
    sqlx::query(
        "UPDATE javari_web_crawl_runs SET status = 'failed', finished_at = now(),
             error = 'the crawl stopped before it finished (the process ended)'
         WHERE web_crawl_id = $1 AND status = 'running'",
    )
    .bind(source.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn load_pages(
    pool: &PgPool,
    source: &Source,
) -> Result<HashMap<String, PageState>, CrawlError> {
    let mut tx = begin(pool, Actor::User(source.user_id)).await?;
    let rows = sqlx::query_as::<_, PageState>(
        "SELECT url, kind, etag, last_modified, content_hash, links, body, document_id,
                missed_crawls, last_error
         FROM javari_web_crawl_pages WHERE web_crawl_id = $1",
    )
    .bind(source.id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|p| (p.url.clone(), p)).collect())
}

async fn upsert_page(
    conn: &mut PgConnection,
    source: &Source,
    page: &PageState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO javari_web_crawl_pages (web_crawl_id, user_id, url, kind, etag,
             last_modified, content_hash, links, body, document_id, missed_crawls, last_error,
             last_fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())
         ON CONFLICT (web_crawl_id, url) DO UPDATE SET kind = EXCLUDED.kind,
             etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
             content_hash = EXCLUDED.content_hash, links = EXCLUDED.links,
             body = EXCLUDED.body, document_id = EXCLUDED.document_id,
             missed_crawls = EXCLUDED.missed_crawls, last_error = EXCLUDED.last_error,
             last_fetched_at = now()",
    )
    .bind(source.id)
    .bind(source.user_id)
    .bind(&page.url)
    .bind(&page.kind)
    .bind(&page.etag)
    .bind(&page.last_modified)
    .bind(&page.content_hash)
    .bind(&page.links)
    .bind(&page.body)
    .bind(page.document_id)
    .bind(page.missed_crawls)
    .bind(&page.last_error)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn save_page(pool: &PgPool, source: &Source, page: &PageState) -> Result<(), CrawlError> {
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    upsert_page(&mut tx, source, page).await?;
    tx.commit().await?;
    Ok(())
}

/// A page's new content for the knowledge base.
pub struct PageContent<'a> {
    /// Where the content came from (after redirects): the citation.
    pub url: &'a str,
    pub title: Option<&'a str>,
    pub file_type: &'a str,
    pub size: usize,
    pub chunks: &'a [&'a str],
}

/// Stores a page's document with its chunks and the page's state in one transaction: the
/// document of the same URL, when there is one, keeps its id and has every old chunk
/// replaced. True when the page was new.
pub async fn store_page(
    pool: &PgPool,
    source: &Source,
    content: &PageContent<'_>,
    state: &mut PageState,
) -> Result<(Uuid, bool), CrawlError> {
    let chunk_count = i32::try_from(content.chunks.len()).unwrap_or(i32::MAX);
    let size = i64::try_from(content.size).unwrap_or(i64::MAX);
    let title = content
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(content.url);
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM javari_knowledge_documents
         WHERE web_crawl_id = $1 AND source_url = $2 FOR UPDATE",
    )
    .bind(source.id)
    .bind(content.url)
    .fetch_optional(&mut *tx)
    .await?;
    let document_id = match existing {
        Some(id) => {
            sqlx::query("DELETE FROM javari_document_chunks WHERE document_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE javari_knowledge_documents SET title = $2, file_type = $3,
                     file_size = $4, content_hash = $5, chunk_count = $6, status = 'ready',
                     project_id = $7
                 WHERE id = $1",
            )
            .bind(id)
            .bind(title)
            .bind(content.file_type)
            .bind(size)
            .bind(&state.content_hash)
            .bind(chunk_count)
            .bind(source.project_id)
            .execute(&mut *tx)
            .await?;
            id
        }
        None => {
            sqlx::query_scalar(
                "INSERT INTO javari_knowledge_documents (user_id, project_id, filename, title,
                     file_type, file_size, content_hash, status, chunk_count, source_type,
                     source_url, web_crawl_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'ready', $8, 'web_crawl', $3, $9)
                 RETURNING id",
            )
            .bind(source.user_id)
            .bind(source.project_id)
            .bind(content.url)
            .bind(title)
            .bind(content.file_type)
            .bind(size)
            .bind(&state.content_hash)
            .bind(chunk_count)
            .bind(source.id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let indexes: Vec<i32> = (0..chunk_count).collect();
    let tokens: Vec<i32> = content
        .chunks
        .iter()
        .map(|c| i32::try_from(c.chars().count().div_ceil(4)).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO javari_document_chunks (document_id, chunk_index, content, token_count)
         SELECT $1, i, c, t FROM unnest($2::int4[], $3::text[], $4::int4[]) AS x(i, c, t)",
    )
    .bind(document_id)
    .bind(&indexes)
    .bind(content.chunks)
    .bind(&tokens)
    .execute(&mut *tx)
    .await?;
    state.document_id = Some(document_id);
    upsert_page(&mut tx, source, state).await?;
    tx.commit().await?;
    Ok((document_id, existing.is_none()))
}

/// Removes pages (their documents and chunks with them) from a source, in one transaction.
pub async fn remove_pages(
    pool: &PgPool,
    source: &Source,
    urls: &[String],
) -> Result<(), CrawlError> {
    if urls.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    sqlx::query(
        "DELETE FROM javari_knowledge_documents d USING javari_web_crawl_pages p
         WHERE p.web_crawl_id = $1 AND p.url = ANY($2) AND d.id = p.document_id",
    )
    .bind(source.id)
    .bind(urls)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM javari_web_crawl_pages WHERE web_crawl_id = $1 AND url = ANY($2)")
        .bind(source.id)
        .bind(urls)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets `missed_crawls` of the given pages.
pub async fn set_missed(
    pool: &PgPool,
    source: &Source,
    urls: &[String],
    missed: &[i32],
) -> Result<(), CrawlError> {
    if urls.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    as_owner(&mut tx, source.user_id).await?;
    sqlx::query(
        "UPDATE javari_web_crawl_pages p SET missed_crawls = x.m
         FROM unnest($2::text[], $3::int4[]) AS x(u, m)
         WHERE p.web_crawl_id = $1 AND p.url = x.u",
    )
    .bind(source.id)
    .bind(urls)
    .bind(missed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
