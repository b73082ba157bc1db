//! Storing documents and their chunks; listing and deleting them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::begin_as;

use super::chunk::{CHUNK_OVERLAP, CHUNK_SIZE, chunk};
use super::error::KnowledgeError;
use super::extract::{ExtractLimits, extract_with};
use super::vector::{quote_ident, vector_literal, vector_schema};

/// A stored document, in the source API's upload shape.
#[derive(Serialize, Clone, Debug, sqlx::FromRow, utoipa::ToSchema)]
pub struct Document {
    pub id: Uuid,
    pub filename: String,
    pub title: Option<String>,
    pub file_type: Option<String>,
    pub file_size: Option<i64>,
    pub chunk_count: i32,
    /// 'processing', 'ready' or 'error'.
    pub status: String,
    pub content_hash: Option<String>,
    /// 'upload' or 'web_crawl'.
    pub source_type: String,
    /// For a crawled page: its URL.
    pub source_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

const DOCUMENT_COLUMNS: &str = "id, filename, title, file_type, file_size, chunk_count, status, \
     content_hash, source_type, source_url, created_at";

/// A file to add to the knowledge base.
#[derive(Clone, Copy, Debug)]
pub struct NewDocument<'a> {
    /// `None`: shared knowledge, searchable by every user.
    pub user_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub filename: &'a str,
    /// Defaults to the file name.
    pub title: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// The result of [`store_document`].
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
pub struct Upload {
    pub document: Document,
    /// The same content was already uploaded by this user (or to the shared knowledge):
    /// `document` is that earlier document and nothing was stored.
    pub duplicate: bool,
}

/// Hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Chunks written per INSERT, so one statement never carries a whole document.
const INSERT_BATCH: usize = 500;

/// [`store_document_with`] the default extraction limits.
pub async fn store_document(pool: &PgPool, new: NewDocument<'_>) -> Result<Upload, KnowledgeError> {
    store_document_with(pool, new, &ExtractLimits::default()).await
}

/// Extracts, chunks and stores a document with all its chunks in one transaction (status
/// 'ready'). An upload whose content the same owner already has returns the existing document
/// with `duplicate: true`; concurrent identical uploads are serialised by an advisory lock, so
/// only one is stored. Embeddings are added afterwards with [`set_embeddings`] or, a batch at
/// a time, [`set_chunk_embeddings`].
pub async fn store_document_with(
    pool: &PgPool,
    new: NewDocument<'_>,
    limits: &ExtractLimits,
) -> Result<Upload, KnowledgeError> {
    // Extraction (PDF above all) and chunking are CPU work: off the async workers. Chunks are
    // kept as byte ranges of the one text.
    let (filename, bytes, limits) = (new.filename.to_owned(), new.bytes.to_vec(), *limits);
    let (file_type, text, ranges) = tokio::task::spawn_blocking(move || {
        let e = extract_with(&filename, &bytes, &limits)?;
        drop(bytes);
        let base = e.text.as_ptr() as usize;
        let ranges: Vec<(usize, usize)> = chunk(&e.text, CHUNK_SIZE, CHUNK_OVERLAP)
            .into_iter()
            .map(|c| {
                let from = c.as_ptr() as usize - base;
                (from, from + c.len())
            })
            .collect();
        Ok::<_, KnowledgeError>((e.file_type, e.text, ranges))
    })
    .await
    .map_err(|e| KnowledgeError::Extraction(e.to_string()))??;
    if ranges.is_empty() {
        return Err(KnowledgeError::Empty);
    }
    let hash = content_hash(new.bytes);
    let owner = new.user_id.map(|u| u.to_string()).unwrap_or_default();

    // A user's upload runs as that user; shared documents (no user) are the owner role's to
    // write, so under the runtime role they are refused by row-level security.
    let mut tx = match new.user_id {
        Some(user_id) => begin_as(pool, user_id).await?,
        None => pool.begin().await?,
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("javari_knowledge:{owner}:{hash}"))
        .execute(&mut *tx)
        .await?;
    let existing_sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM javari_knowledge_documents
         WHERE content_hash = $1 AND user_id IS NOT DISTINCT FROM $2
         ORDER BY created_at LIMIT 1"
    );
    let existing = sqlx::query_as::<_, Document>(sqlx::AssertSqlSafe(existing_sql))
        .bind(&hash)
        .bind(new.user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(document) = existing {
        return Ok(Upload {
            document,
            duplicate: true,
        });
    }

    let title = new
        .title
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(new.filename);
    let chunk_count = i32::try_from(ranges.len()).unwrap_or(i32::MAX);
    let insert_sql = format!(
        "INSERT INTO javari_knowledge_documents
             (user_id, project_id, filename, title, file_type, file_size, content_hash, status,
              chunk_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'ready', $8)
         RETURNING {DOCUMENT_COLUMNS}"
    );
    let document = sqlx::query_as::<_, Document>(sqlx::AssertSqlSafe(insert_sql))
        .bind(new.user_id)
        .bind(new.project_id)
        .bind(new.filename)
        .bind(title)
        .bind(file_type)
        .bind(i64::try_from(new.bytes.len()).unwrap_or(i64::MAX))
        .bind(&hash)
        .bind(chunk_count)
        .fetch_one(&mut *tx)
        .await?;

    for (batch_no, batch) in ranges.chunks(INSERT_BATCH).enumerate() {
        let first = batch_no * INSERT_BATCH;
        let indexes: Vec<i32> = (first..first + batch.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let chunks: Vec<&str> = batch.iter().map(|&(from, to)| &text[from..to]).collect();
        // Rough token estimate: four characters a token.
        let tokens: Vec<i32> = chunks
            .iter()
            .map(|c| i32::try_from(c.chars().count().div_ceil(4)).unwrap_or(i32::MAX))
            .collect();
        sqlx::query(
            "INSERT INTO javari_document_chunks (document_id, chunk_index, content, token_count)
             SELECT $1, i, c, t FROM unnest($2::int4[], $3::text[], $4::int4[]) AS x(i, c, t)",
        )
        .bind(document.id)
        .bind(&indexes)
        .bind(&chunks)
        .bind(&tokens)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Upload {
        document,
        duplicate: false,
    })
}

/// The chunks of a document in order, to compute their embeddings.
pub async fn chunks_of(
    pool: &PgPool,
    user_id: Uuid,
    document_id: Uuid,
) -> Result<Vec<String>, KnowledgeError> {
    let mut tx = begin_as(pool, user_id).await?;
    let chunks = sqlx::query_scalar(
        "SELECT content FROM javari_document_chunks WHERE document_id = $1 ORDER BY chunk_index",
    )
    .bind(document_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(chunks)
}

/// How many chunks a stored document has (0 when it is gone).
pub async fn chunk_count(
    pool: &PgPool,
    user_id: Uuid,
    document_id: Uuid,
) -> Result<i32, KnowledgeError> {
    let mut tx = begin_as(pool, user_id).await?;
    let count =
        sqlx::query_scalar("SELECT chunk_count FROM javari_knowledge_documents WHERE id = $1")
            .bind(document_id)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
    tx.commit().await?;
    Ok(count)
}

/// Chunks `from..from + count` of a document in order (fewer at the end), to compute their
/// embeddings a batch at a time.
pub async fn chunk_batch(
    pool: &PgPool,
    user_id: Uuid,
    document_id: Uuid,
    from: i32,
    count: i32,
) -> Result<Vec<String>, KnowledgeError> {
    let mut tx = begin_as(pool, user_id).await?;
    let batch = sqlx::query_scalar(
        "SELECT content FROM javari_document_chunks
         WHERE document_id = $1 AND chunk_index >= $2 AND chunk_index < $2 + $3
         ORDER BY chunk_index",
    )
    .bind(document_id)
    .bind(from)
    .bind(count)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(batch)
}

/// Stores the embeddings of chunks `first..first + embeddings.len()`, in one statement. Does
/// nothing where the database has no embedding column (no pgvector).
pub async fn set_chunk_embeddings(
    pool: &PgPool,
    user_id: Uuid,
    document_id: Uuid,
    first: i32,
    embeddings: &[Vec<f32>],
) -> Result<(), KnowledgeError> {
    let Some(schema) = vector_schema(pool).await? else {
        return Ok(());
    };
    let literals = embeddings
        .iter()
        .map(|e| vector_literal(e))
        .collect::<Result<Vec<_>, _>>()?;
    let indexes: Vec<i32> = (0..embeddings.len())
        .map(|i| first.saturating_add(i32::try_from(i).unwrap_or(i32::MAX)))
        .collect();
    let sql = format!(
        "UPDATE javari_document_chunks c SET embedding = x.e::{}.vector
         FROM unnest($2::int4[], $3::text[]) AS x(i, e)
         WHERE c.document_id = $1 AND c.chunk_index = x.i",
        quote_ident(&schema)
    );
    let mut tx = begin_as(pool, user_id).await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(document_id)
        .bind(&indexes)
        .bind(&literals)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != embeddings.len() as u64 {
        return Err(KnowledgeError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// Stores one embedding per chunk (`embeddings[i]` for chunk index `i`), in one statement.
/// Does nothing where the database has no embedding column (no pgvector).
pub async fn set_embeddings(
    pool: &PgPool,
    user_id: Uuid,
    document_id: Uuid,
    embeddings: &[Vec<f32>],
) -> Result<(), KnowledgeError> {
    let Some(schema) = vector_schema(pool).await? else {
        return Ok(());
    };
    let mut tx = begin_as(pool, user_id).await?;
    let chunks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM javari_document_chunks WHERE document_id = $1")
            .bind(document_id)
            .fetch_one(&mut *tx)
            .await?;
    if chunks == 0 {
        return Err(KnowledgeError::NotFound);
    }
    let chunks = usize::try_from(chunks).unwrap_or(usize::MAX);
    if embeddings.len() != chunks {
        return Err(KnowledgeError::EmbeddingCount {
            chunks,
            embeddings: embeddings.len(),
        });
    }
    let literals = embeddings
        .iter()
        .map(|e| vector_literal(e))
        .collect::<Result<Vec<_>, _>>()?;
    let indexes: Vec<i32> = (0..i32::try_from(chunks).unwrap_or(i32::MAX)).collect();
    let sql = format!(
        "UPDATE javari_document_chunks c SET embedding = x.e::{}.vector
         FROM unnest($2::int4[], $3::text[]) AS x(i, e)
         WHERE c.document_id = $1 AND c.chunk_index = x.i",
        quote_ident(&schema)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(document_id)
        .bind(&indexes)
        .bind(&literals)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The user's documents and the shared ones, newest first.
pub async fn list_documents(pool: &PgPool, user_id: Uuid) -> Result<Vec<Document>, KnowledgeError> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM javari_knowledge_documents
         WHERE user_id = $1 OR user_id IS NULL ORDER BY created_at DESC, id"
    );
    let mut tx = begin_as(pool, user_id).await?;
    let documents = sqlx::query_as::<_, Document>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(documents)
}

/// Deletes one of the user's own documents with its chunks (shared documents are not the
/// user's to delete). False when there was no such document.
pub async fn delete_document(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, KnowledgeError> {
    let mut tx = begin_as(pool, user_id).await?;
    let done = sqlx::query("DELETE FROM javari_knowledge_documents WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}
