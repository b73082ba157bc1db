//! Knowledge uploads within bounds, through the console: 422 for text or PDF streams over
//! their bounds, 503 with Retry-After when every upload slot is taken, and a document too
//! large for one embeddings request still gets all its vectors (in batches).

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use support::{Harness, test_settings};
use tokio::io::AsyncWriteExt;

async fn upload(h: &Harness, filename: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
    );
    h.http
        .post(h.url("/api/javari/knowledge/upload"))
        .bearer_auth(&h.operator_token)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json error");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A zlib stream of `copies × 258 + 1` spaces, written by hand (one fixed-Huffman block).
fn spaces_zlib(copies: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut bits) = (0u8, 0u32);
    let mut put = |value: u32, n: u32, reversed: bool, out: &mut Vec<u8>| {
        for i in 0..n {
            let bit = if reversed {
                (value >> (n - 1 - i)) & 1
            } else {
                (value >> i) & 1
            };
            acc |= u8::try_from(bit).expect("bit") << bits;
            bits += 1;
            if bits == 8 {
                out.push(acc);
                (acc, bits) = (0, 0);
            }
        }
    };
    put(1, 1, false, &mut out);
    put(1, 2, false, &mut out);
    put(0x30 + u32::from(b' '), 8, true, &mut out);
    for _ in 0..copies {
        put(0xC5, 8, true, &mut out);
        put(0, 5, true, &mut out);
    }
    put(0, 7, true, &mut out);
    put(0, 7, false, &mut out);
    out
}

/// A PDF whose page content inflates to about 1 GiB of spaces.
fn bomb_pdf() -> Vec<u8> {
    let data = spaces_zlib((1 << 30) / 258);
    let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
        2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
        3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
        .to_vec();
    pdf.extend_from_slice(
        format!(
            "4 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&data);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    pdf
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn hostile_uploads_are_refused_with_422_and_nothing_stored(pool: PgPool) {
    let settings = javari_console::Settings {
        upload_text_multiple: 1,
        ..test_settings()
    };
    let h = Harness::with_settings(pool, settings).await;

    let bomb = bomb_pdf();
    assert!(bomb.len() < 10 << 20);
    let (status, error) = error_of(upload(&h, "bomb.pdf", bomb).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.contains("expand to more than"), "{error}");

    // Keys repeated before each of 30,000 values: over 1× the upload.
    let key = "p".repeat(60);
    let objects = vec![format!("{{\"{key}\":1}}"); 30_000].join(",");
    let (status, error) =
        error_of(upload(&h, "wide.json", format!("[{objects}]").into_bytes()).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.contains("text is over"), "{error}");

    assert_eq!(
        h.scalar_i64("SELECT count(*) FROM javari_knowledge_documents")
            .await,
        0
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn uploads_beyond_the_concurrency_are_answered_503_with_retry_after(pool: PgPool) {
    let settings = javari_console::Settings {
        upload_concurrency: 1,
        ..test_settings()
    };
    let h = Harness::with_settings(pool, settings).await;
    // An upload whose body never finishes holds the one slot.
    let addr = h.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /api/javari/knowledge/upload HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\n\r\nhello",
        h.operator_token
    );
    let open_slow = async || {
        let mut slow = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        slow.write_all(head.as_bytes()).await.expect("write");
        slow
    };
    let mut slow = open_slow().await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let busy = loop {
        let response = upload(&h, "quick.txt", b"quick".to_vec()).await;
        if response.status().as_u16() == 503 {
            break response;
        }
        // A quick upload may have held the slot when the slow one arrived, so the slow one
        // was answered (503) instead of holding it: send it again.
        let mut answer = [0u8; 64];
        if !matches!(slow.try_read(&mut answer), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            slow = open_slow().await;
        }
        assert!(
            Instant::now() < deadline,
            "the slow upload never held the slot"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(
        busy.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let (_, error) = error_of(busy).await;
    assert!(error.contains("try again"), "{error}");

    // The slot comes back when the slow upload's connection goes.
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = upload(&h, "after.txt", b"after the slow one".to_vec())
            .await
            .status()
            .as_u16();
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "the slot was never released");
        tokio::task::yield_now().await;
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_document_of_more_chunks_than_one_request_takes_gets_every_vector(pool: PgPool) {
    let h = Harness::start(pool).await;
    assert!(
        javari_core::knowledge::vector_search_available(&h.pool)
            .await
            .expect("probe"),
        "pgvector is missing: run `make deps` (testenv/install-pgvector.sh)"
    );
    // Over 2,048 chunks: more than OpenAI (and the fake) takes in one embeddings request.
    let text: String = (0..2400)
        .map(|i| {
            format!(
                "Paragraph {i} says something about rotation. {}\n\n",
                "More words follow here. ".repeat(30)
            )
        })
        .collect();
    let response = upload(&h, "large.md", text.into_bytes()).await;
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.expect("json");
    let chunks = body["document"]["chunk_count"].as_i64().expect("chunks");
    assert!(chunks > 2048, "{chunks} chunks");
    let embedded = h
        .scalar_i64("SELECT count(*) FROM javari_document_chunks WHERE embedding IS NOT NULL")
        .await;
    assert_eq!(embedded, chunks, "every chunk embedded");
}
