//! The knowledge base: extraction, chunking, storage and search.
//!
//! Uploaded files are turned into text ([`extract`]), split into overlapping chunks
//! ([`chunk`]) and stored with their document in one transaction ([`store_document`]).
//! Search uses embeddings when the caller has one and the database has pgvector
//! (`javari_document_chunks.embedding`), PostgreSQL full text otherwise ([`search`]).

mod chunk;
mod error;
mod extract;
mod search;
mod store;
mod vector;

pub use chunk::{CHUNK_OVERLAP, CHUNK_SIZE, chunk};
pub use error::KnowledgeError;
pub use extract::{
    ExtractLimits, Extracted, MAX_UPLOAD_BYTES, MIN_TEXT_BYTES, PDF_DECODED_BUDGET,
    SUPPORTED_TYPES, TEXT_MULTIPLE, extract, extract_with,
};
pub use search::{
    DEFAULT_SEARCH_LIMIT, DEFAULT_THRESHOLD, MAX_SEARCH_LIMIT, SearchHit, SearchQuery, search,
};
pub use store::{
    Document, NewDocument, Upload, chunk_batch, chunk_count, chunks_of, content_hash,
    delete_document, list_documents, set_chunk_embeddings, set_embeddings, store_document,
    store_document_with,
};
pub use vector::{EMBEDDING_DIMENSIONS, vector_search_available};
