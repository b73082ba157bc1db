//! pgvector, when the database has it: detection and the SQL spelling of vectors.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sqlx::PgPool;

use super::error::KnowledgeError;

/// Dimensions of `javari_document_chunks.embedding` (`vector(1536)`).
pub const EMBEDDING_DIMENSIONS: usize = 1536;

/// True when `javari_document_chunks.embedding` exists (the knowledge migration adds it only
/// where pgvector is installed), so embeddings can be stored and searched.
pub async fn vector_search_available(pool: &PgPool) -> Result<bool, KnowledgeError> {
    Ok(vector_schema(pool).await?.is_some())
}

/// The schema of pgvector's `vector` type, when the embedding column exists. Looked up once
/// per database: the schema changes only by migrations, which run before anything is served,
/// and this sits on the path of every knowledge search and upload.
pub(crate) async fn vector_schema(pool: &PgPool) -> Result<Option<String>, KnowledgeError> {
    Ok(vector_support(pool).await?.map(|v| v.schema))
}

/// What the database's pgvector offers.
#[derive(Clone, Debug)]
pub(crate) struct VectorSupport {
    /// The schema of the `vector` type.
    pub schema: String,
    /// pgvector 0.8 or later: HNSW scans can go on past `ef_search` candidates until enough
    /// rows pass the query's filters (`hnsw.iterative_scan`).
    pub iterative_scan: bool,
}

/// [`VectorSupport`], looked up once per database (see [`vector_schema`]).
pub(crate) async fn vector_support(pool: &PgPool) -> Result<Option<VectorSupport>, KnowledgeError> {
    static KNOWN: OnceLock<Mutex<HashMap<String, Option<VectorSupport>>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Mutex::default);
    let options = pool.connect_options();
    let database = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    if let Some(schema) = known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&database)
    {
        return Ok(schema.clone());
    }
    let found: Option<(String, bool)> = sqlx::query_as(
        "SELECT n.nspname::text,
                string_to_array(e.extversion, '.')::int[] >= ARRAY[0, 8]
         FROM pg_extension e
         JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'vector'
           AND EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema()
                         AND table_name = 'javari_document_chunks'
                         AND column_name = 'embedding')",
    )
    .fetch_optional(pool)
    .await?;
    let support = found.map(|(schema, iterative_scan)| VectorSupport {
        schema,
        iterative_scan,
    });
    known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(database, support.clone());
    Ok(support)
}

/// `"schema"`, quoted as an SQL identifier.
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// pgvector's text form of an embedding: `[0.1,0.2,...]`, checked for size and finiteness.
pub(crate) fn vector_literal(embedding: &[f32]) -> Result<String, KnowledgeError> {
    if embedding.len() != EMBEDDING_DIMENSIONS {
        return Err(KnowledgeError::EmbeddingDimensions {
            expected: EMBEDDING_DIMENSIONS,
            got: embedding.len(),
        });
    }
    if embedding.iter().any(|x| !x.is_finite()) {
        return Err(KnowledgeError::NonFiniteEmbedding);
    }
    let parts: Vec<String> = embedding.iter().map(f32::to_string).collect();
    Ok(format!("[{}]", parts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers() {
        let mut v = vec![0.0_f32; EMBEDDING_DIMENSIONS];
        v[0] = 1.5;
        let lit = vector_literal(&v).expect("literal");
        assert!(lit.starts_with("[1.5,0,0"));
        assert!(lit.ends_with(",0]"));
        assert!(matches!(
            vector_literal(&[1.0, 2.0]),
            Err(KnowledgeError::EmbeddingDimensions { got: 2, .. })
        ));
        assert_eq!(quote_ident("pub\"lic"), "\"pub\"\"lic\"");
    }
}
