//! The knowledge base on a real PostgreSQL: extraction and chunking through the public API,
//! storage with duplicate detection, full-text search (similarity, threshold, limit, user
//! isolation) and, where pgvector is installed, vector search.

use javari_core::knowledge::{
    self as kb, CHUNK_OVERLAP, CHUNK_SIZE, EMBEDDING_DIMENSIONS, KnowledgeError, NewDocument,
    SearchQuery,
};
use sqlx::PgPool;
use uuid::Uuid;

async fn user(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO javari_users (email) VALUES ($1) RETURNING id")
        .bind(email)
        .fetch_one(pool)
        .await
        .expect("insert user")
}

fn doc<'a>(user_id: Option<Uuid>, filename: &'a str, bytes: &'a [u8]) -> NewDocument<'a> {
    NewDocument {
        user_id,
        project_id: None,
        filename,
        title: None,
        bytes,
    }
}

/// A long runbook: many paragraphs about other things, one about certificate renewal.
fn runbook() -> String {
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!(
            "Section {i}. The operator reconciles projects into deployments and services. \
             Health checks run on a schedule and open incidents on failure.\n\n"
        ));
        if i == 25 {
            text.push_str(
                "Certificate renewal: when the TLS certificate expires within fourteen days, \
                 rotate it with cert-manager and restart the ingress controller.\n\n",
            );
        }
    }
    text
}

#[test]
fn extract_reads_each_supported_type_and_refuses_the_rest() {
    for (name, bytes, file_type) in [
        ("a.txt", &b"plain text"[..], "txt"),
        ("b.MD", &b"# Heading\n\nbody"[..], "md"),
        ("c.csv", &b"host,port\napi,8080\n"[..], "csv"),
        ("d.json", &br#"{"host": "api", "port": 8080}"#[..], "json"),
    ] {
        let extracted = kb::extract(name, bytes).expect(name);
        assert_eq!(extracted.file_type, file_type);
        assert!(!extracted.text.is_empty());
    }
    assert_eq!(
        kb::extract("c.csv", b"host,port\napi,8080\n")
            .expect("csv")
            .text,
        "host: api; port: 8080"
    );
    assert_eq!(
        kb::extract("d.json", br#"{"host": "api", "port": 8080}"#)
            .expect("json")
            .text,
        "host: api\nport: 8080"
    );
    let err = kb::extract("tool.exe", b"MZ").expect_err("exe refused");
    assert!(matches!(err, KnowledgeError::UnsupportedType { .. }));
    assert_eq!(
        err.to_string(),
        "unsupported file type .exe: upload txt, md, csv, json or pdf"
    );
    assert!(matches!(
        kb::extract("letter.docx", b"PK\x03\x04"),
        Err(KnowledgeError::UnsupportedType { .. })
    ));
    assert!(matches!(
        kb::extract("x.json", b"{not json"),
        Err(KnowledgeError::InvalidJson(_))
    ));
    assert!(matches!(
        kb::extract("x.txt", b""),
        Err(KnowledgeError::Empty)
    ));
    assert!(matches!(
        kb::extract("x.txt", &[0xc3, 0x28]),
        Err(KnowledgeError::NotUtf8)
    ));
}

#[test]
fn chunking_covers_overlaps_and_respects_the_size() {
    let text = runbook();
    let chunks = kb::chunk(&text, CHUNK_SIZE, CHUNK_OVERLAP);
    assert!(chunks.len() > 3);
    assert!(chunks.iter().all(|c| !c.trim().is_empty()));
    assert!(chunks.iter().all(|c| c.chars().count() <= CHUNK_SIZE));
    for i in 0..40 {
        let needle = format!("Section {i}.");
        assert!(chunks.iter().any(|c| c.contains(&needle)), "{needle} lost");
    }
    for pair in chunks.windows(2) {
        let head: String = pair[1].chars().take(40).collect();
        assert!(pair[0].contains(&head), "consecutive chunks do not overlap");
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn store_detects_duplicates_per_owner(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let bob = user(&pool, "bob@example.com").await;
    let text = runbook();
    let first = kb::store_document(&pool, doc(Some(alice), "runbook.md", text.as_bytes()))
        .await
        .expect("store");
    assert!(!first.duplicate);
    let d = &first.document;
    assert_eq!(d.status, "ready");
    assert_eq!(d.file_type.as_deref(), Some("md"));
    assert_eq!(d.title.as_deref(), Some("runbook.md"));
    assert_eq!(d.file_size, Some(i64::try_from(text.len()).expect("size")));
    assert_eq!(
        d.content_hash.as_deref(),
        Some(kb::content_hash(text.as_bytes()).as_str())
    );
    let chunks = kb::chunks_of(&pool, alice, d.id).await.expect("chunks");
    assert_eq!(
        chunks,
        kb::chunk(&text, CHUNK_SIZE, CHUNK_OVERLAP),
        "chunks stored in order"
    );
    assert_eq!(usize::try_from(d.chunk_count).expect("count"), chunks.len());

    // Same bytes again, under another name: the first document, nothing stored.
    let again = kb::store_document(&pool, doc(Some(alice), "copy.md", text.as_bytes()))
        .await
        .expect("store again");
    assert!(again.duplicate);
    assert_eq!(again.document.id, d.id);
    assert_eq!(again.document.chunk_count, d.chunk_count);
    let docs = kb::list_documents(&pool, alice).await.expect("list");
    assert_eq!(docs.len(), 1);
    let stored_chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_document_chunks")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored_chunks, i64::from(d.chunk_count));

    // Another user's copy is their own document.
    let bobs = kb::store_document(&pool, doc(Some(bob), "runbook.md", text.as_bytes()))
        .await
        .expect("bob's");
    assert!(!bobs.duplicate);
    assert_ne!(bobs.document.id, d.id);

    // Shared documents are listed for everyone; deleting is for owners only.
    let shared = kb::store_document(&pool, doc(None, "shared.txt", b"Shared platform notes"))
        .await
        .expect("shared");
    let listed: Vec<Uuid> = kb::list_documents(&pool, alice)
        .await
        .expect("list")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&shared.document.id) && listed.contains(&d.id));
    assert!(
        !kb::delete_document(&pool, alice, shared.document.id)
            .await
            .expect("delete shared")
    );
    assert!(
        !kb::delete_document(&pool, alice, bobs.document.id)
            .await
            .expect("delete bob's")
    );
    assert!(
        kb::delete_document(&pool, alice, d.id)
            .await
            .expect("delete")
    );
    assert!(
        kb::chunks_of(&pool, alice, d.id)
            .await
            .expect("chunks")
            .is_empty()
    );

    assert!(matches!(
        kb::store_document(&pool, doc(Some(alice), "virus.exe", b"MZ")).await,
        Err(KnowledgeError::UnsupportedType { .. })
    ));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn full_text_search_ranks_scores_and_isolates_users(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let bob = user(&pool, "bob@example.com").await;
    let text = runbook();
    let stored = kb::store_document(&pool, doc(Some(alice), "runbook.md", text.as_bytes()))
        .await
        .expect("store");
    kb::store_document(
        &pool,
        doc(
            Some(bob),
            "bob.txt",
            b"Bob's certificate renewal checklist for ingress.",
        ),
    )
    .await
    .expect("bob's");

    let q = SearchQuery {
        threshold: 0.0,
        ..SearchQuery::new("how do I renew an expiring certificate?")
    };
    let hits = kb::search(&pool, alice, &q).await.expect("search");
    assert!(!hits.is_empty());
    let best = &hits[0];
    assert!(best.content.contains("Certificate renewal"), "{best:?}");
    assert_eq!(best.document_id, stored.document.id);
    assert_eq!(best.document_name, "runbook.md");
    assert!(hits.iter().all(|h| (0.0..=1.0).contains(&h.similarity)));
    // "renew", "expir" and "certif" of {renew, expir, certif}: every query word present.
    assert!((best.similarity - 1.0).abs() < 1e-9, "{}", best.similarity);
    // Bob's document is never in Alice's results.
    assert!(hits.iter().all(|h| h.document_id == stored.document.id));

    // Partial matches count, scored by the share of words present; threshold drops them.
    let q = SearchQuery {
        threshold: 0.0,
        limit: 20,
        ..SearchQuery::new("certificate deployments")
    };
    let hits = kb::search(&pool, alice, &q).await.expect("partial");
    assert!(hits.len() > 1);
    assert!(hits.iter().any(|h| (h.similarity - 0.5).abs() < 1e-9));
    let strict = SearchQuery {
        threshold: 0.9,
        limit: 20,
        ..SearchQuery::new("certificate deployments")
    };
    let strict_hits = kb::search(&pool, alice, &strict).await.expect("strict");
    assert!(strict_hits.len() < hits.len());
    assert!(strict_hits.iter().all(|h| h.similarity >= 0.9));

    let limited = SearchQuery {
        threshold: 0.0,
        limit: 2,
        ..SearchQuery::new("deployments")
    };
    assert_eq!(
        kb::search(&pool, alice, &limited)
            .await
            .expect("limit")
            .len(),
        2
    );
    assert!(
        kb::search(&pool, alice, &SearchQuery::new("the and of"))
            .await
            .expect("stop words")
            .is_empty()
    );

    let bobs = kb::search(&pool, bob, &SearchQuery::new("certificate renewal"))
        .await
        .expect("bob");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].document_name, "bob.txt");
}

/// A unit vector along `axis`, tilted towards `towards` by `tilt`.
fn embedding(axis: usize, towards: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0_f32; EMBEDDING_DIMENSIONS];
    v[axis] = 1.0;
    v[towards] += tilt;
    v
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn vector_search_orders_by_cosine_similarity(pool: PgPool) {
    if !kb::vector_search_available(&pool)
        .await
        .expect("detect pgvector")
    {
        eprintln!("pgvector is not installed here: vector search not tested");
        return;
    }
    let alice = user(&pool, "alice@example.com").await;
    let text = "First paragraph about deployments.\n\n".repeat(40)
        + &"Second paragraph about certificates.\n\n".repeat(40);
    let stored = kb::store_document(&pool, doc(Some(alice), "notes.md", text.as_bytes()))
        .await
        .expect("store");
    let n = kb::chunks_of(&pool, alice, stored.document.id)
        .await
        .expect("chunks")
        .len();
    assert!(n >= 3, "{n} chunks");
    assert!(matches!(
        kb::set_embeddings(&pool, alice, stored.document.id, &[vec![1.0; 3]]).await,
        Err(KnowledgeError::EmbeddingCount { .. })
    ));
    // Chunk i points along axis i, tilted towards axis 0 less and less.
    let embeddings: Vec<Vec<f32>> = (0..n)
        .map(|i| embedding(i + 1, 0, 1.0 / (i as f32 + 1.0)))
        .collect();
    kb::set_embeddings(&pool, alice, stored.document.id, &embeddings)
        .await
        .expect("set embeddings");

    let q = SearchQuery {
        threshold: 0.0,
        limit: 20,
        embedding: Some(embedding(0, 0, 0.0)),
        ..SearchQuery::new("anything")
    };
    let hits = kb::search(&pool, alice, &q).await.expect("vector search");
    let order: Vec<i32> = hits.iter().map(|h| h.chunk_index).collect();
    let expected: Vec<i32> = (0..i32::try_from(n).expect("n")).collect();
    assert_eq!(order, expected, "closest to axis 0 first");
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    // cos(45°) for chunk 0.
    assert!((hits[0].similarity - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-3);

    let strict = SearchQuery {
        threshold: 0.5,
        ..q.clone()
    };
    let strict_hits = kb::search(&pool, alice, &strict).await.expect("threshold");
    assert!(!strict_hits.is_empty() && strict_hits.len() < hits.len());
    assert!(strict_hits.iter().all(|h| h.similarity >= 0.5));

    let other = user(&pool, "other@example.com").await;
    assert!(
        kb::search(&pool, other, &q)
            .await
            .expect("other")
            .is_empty()
    );
}

/// Twenty other users' 600 chunks all sit closer to the query than any of Alice's. An HNSW
/// scan that stops after `ef_search` (40) candidates and filters by user afterwards finds none
/// of hers; the search must still return `limit` of her own chunks.
#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn vector_search_returns_the_limit_from_the_callers_chunks_among_many_others(pool: PgPool) {
    if !kb::vector_search_available(&pool)
        .await
        .expect("detect pgvector")
    {
        panic!("pgvector is not installed: run testenv/install-pgvector.sh (make deps)");
    }
    // Make the planner use the HNSW index for the ordering, as it does on a large table.
    let options = (*pool.connect_options()).clone();
    let indexed = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("SET enable_seqscan = off")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("SET enable_sort = off").execute(conn).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .expect("indexed pool");

    let paragraphs = |who: &str, n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{who} paragraph {i}. {}\n\n",
                    "Filler words about nothing. ".repeat(30)
                )
            })
            .collect()
    };
    let mut axis = 2;
    for u in 0..20 {
        let other = user(&pool, &format!("other{u}@example.com")).await;
        let text = paragraphs(&format!("Other{u}"), 30);
        let stored = kb::store_document(&pool, doc(Some(other), "other.md", text.as_bytes()))
            .await
            .expect("store other");
        let n = kb::chunks_of(&pool, other, stored.document.id)
            .await
            .expect("chunks")
            .len();
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                axis = 2 + (axis - 1) % (EMBEDDING_DIMENSIONS - 2);
                embedding(0, axis, 0.1)
            })
            .collect();
        kb::set_chunk_embeddings(&pool, other, stored.document.id, 0, &vectors)
            .await
            .expect("other embeddings");
    }
    let alice = user(&pool, "alice@example.com").await;
    let text = paragraphs("Alice", 10);
    let mine = kb::store_document(&pool, doc(Some(alice), "mine.md", text.as_bytes()))
        .await
        .expect("store mine");
    let n = kb::chunks_of(&pool, alice, mine.document.id)
        .await
        .expect("chunks")
        .len();
    assert!(n >= 5, "{n} chunks");
    // Tilted further from the query (axis 0) than anyone else's.
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut v = embedding(0, 1, 2.0);
            v[1000 + i] = 0.2;
            v
        })
        .collect();
    kb::set_chunk_embeddings(&indexed, alice, mine.document.id, 0, &vectors)
        .await
        .expect("my embeddings");
    sqlx::query("ANALYZE javari_document_chunks")
        .execute(&pool)
        .await
        .expect("analyze");

    let q = SearchQuery {
        threshold: 0.0,
        limit: 5,
        embedding: Some(embedding(0, 0, 0.0)),
        ..SearchQuery::new("anything")
    };
    let hits = kb::search(&indexed, alice, &q)
        .await
        .expect("vector search");
    assert_eq!(hits.len(), 5, "hits: {hits:?}");
    assert!(hits.iter().all(|h| h.document_id == mine.document.id));
}
