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
pub use extract::{Extracted, MAX_UPLOAD_BYTES, SUPPORTED_TYPES, extract};
pub use search::{
    DEFAULT_SEARCH_LIMIT, DEFAULT_THRESHOLD, MAX_SEARCH_LIMIT, SearchHit, SearchQuery, search,
};
pub use store::{
    Document, NewDocument, Upload, chunks_of, content_hash, delete_document, list_documents,
    set_embeddings, store_document,
};
pub use vector::{EMBEDDING_DIMENSIONS, vector_search_available};
