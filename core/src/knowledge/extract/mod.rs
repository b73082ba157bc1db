//! Turning an uploaded file into text, by its extension, within bounds: every extractor
//! writes into one capped [`sink::TextSink`], JSON and CSV are read as they are parsed (no
//! document tree, no table of rows), and PDFs are measured before they are inflated.

mod csv;
mod json;
mod pdf;
mod sink;

use super::error::KnowledgeError;
use sink::TextSink;

/// Largest upload accepted by default: 10 MiB.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Extracted text may be this many times the upload's size by default.
pub const TEXT_MULTIPLE: usize = 4;
/// What every upload may extract to, however small it is (PDFs compress their text).
pub const MIN_TEXT_BYTES: usize = 1024 * 1024;
/// What a PDF's streams may decode to, in all, by default.
pub const PDF_DECODED_BUDGET: usize = 64 * 1024 * 1024;

/// The file types [`extract`] reads, as stored in `javari_knowledge_documents.file_type`.
pub const SUPPORTED_TYPES: &[&str] = &["txt", "md", "csv", "json", "pdf"];

/// How much an extraction may read and produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Largest file read ([`KnowledgeError::TooLarge`] above it).
    pub max_upload_bytes: usize,
    /// Text is capped at this many times the file's size (at least [`MIN_TEXT_BYTES`]);
    /// [`KnowledgeError::TextTooLarge`] above it.
    pub text_multiple: usize,
    /// What a PDF's compressed streams may decode to ([`KnowledgeError::PdfTooLarge`]).
    pub pdf_decoded_budget: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: MAX_UPLOAD_BYTES,
            text_multiple: TEXT_MULTIPLE,
            pdf_decoded_budget: PDF_DECODED_BUDGET,
        }
    }
}

impl ExtractLimits {
    /// The most text a file of `len` bytes may extract to.
    pub fn max_text_bytes(&self, len: usize) -> usize {
        len.max(MIN_TEXT_BYTES)
            .saturating_mul(self.text_multiple.max(1))
    }
}

/// The text of an uploaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct Extracted {
    /// One of [`SUPPORTED_TYPES`].
    pub file_type: &'static str,
    pub text: String,
}

/// [`extract_with`] the default limits.
pub fn extract(filename: &str, bytes: &[u8]) -> Result<Extracted, KnowledgeError> {
    extract_with(filename, bytes, &ExtractLimits::default())
}

/// Reads `bytes` as the type named by `filename`'s extension (case-insensitive):
/// - `.txt`, `.text`, `.log`: UTF-8 text as is;
/// - `.md`, `.markdown`: Markdown, kept as written;
/// - `.csv`: one line per row, `header: value; ...` when the first row is a header;
/// - `.json`: `path: value` lines (`services[0].name: api`, `ports: 80, 443`);
/// - `.pdf`: the text of every page.
pub fn extract_with(
    filename: &str,
    bytes: &[u8],
    limits: &ExtractLimits,
) -> Result<Extracted, KnowledgeError> {
    if bytes.len() > limits.max_upload_bytes {
        return Err(KnowledgeError::TooLarge {
            limit: limits.max_upload_bytes,
        });
    }
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let limit = limits.max_text_bytes(bytes.len());
    let mut sink = TextSink::new(limit);
    let file_type = match extension.as_str() {
        "txt" | "text" | "log" => {
            sink.push_str(utf8(bytes)?)?;
            "txt"
        }
        "md" | "markdown" => {
            sink.push_str(utf8(bytes)?)?;
            "md"
        }
        "csv" => {
            csv::csv_text(utf8(bytes)?, &mut sink, limit)?;
            "csv"
        }
        "json" => {
            json::json_text(utf8(bytes)?, &mut sink)?;
            "json"
        }
        "pdf" => {
            let text = pdf::pdf_text(bytes, limits.pdf_decoded_budget)?;
            sink.push_str(&text)?;
            "pdf"
        }
        _ => {
            return Err(KnowledgeError::UnsupportedType {
                filename: filename.to_owned(),
            });
        }
    };
    let text = sink.into_string();
    if text.trim().is_empty() {
        return Err(KnowledgeError::Empty);
    }
    Ok(Extracted { file_type, text })
}

/// `bytes` as UTF-8 without a byte-order mark.
fn utf8(bytes: &[u8]) -> Result<&str, KnowledgeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| KnowledgeError::NotUtf8)?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_markdown_by_extension_case_insensitively() {
        let e = extract("Notes.TXT", "\u{feff}hello".as_bytes()).expect("txt");
        assert_eq!((e.file_type, e.text.as_str()), ("txt", "hello"));
        let e = extract("README.markdown", b"# Title\n\nBody").expect("md");
        assert_eq!((e.file_type, e.text.as_str()), ("md", "# Title\n\nBody"));
        let e = extract("nul.txt", b"a\0b").expect("txt with NUL");
        assert_eq!(e.text, "ab", "NUL cannot be stored in PostgreSQL text");
        assert!(matches!(
            extract("only-nul.txt", b"\0\0"),
            Err(KnowledgeError::Empty)
        ));
    }

    #[test]
    fn csv_rows_become_lines_with_headers() {
        let csv =
            "name,role,notes\r\nalice,admin,\"likes, commas\"\nbob,viewer,\"says \"\"hi\"\"\"\n";
        let e = extract("users.csv", csv.as_bytes()).expect("csv");
        assert_eq!(e.file_type, "csv");
        assert_eq!(
            e.text,
            "name: alice; role: admin; notes: likes, commas\nname: bob; role: viewer; notes: says \"hi\""
        );
        assert!(matches!(
            extract("bad.csv", b"a,\"open\nb,c"),
            Err(KnowledgeError::InvalidCsv(_))
        ));
    }

    #[test]
    fn json_is_flattened_to_paths() {
        let json = br#"{"service": {"name": "api", "ports": [80, 443]}, "ok": true, "none": null}"#;
        let e = extract("config.json", json).expect("json");
        assert_eq!(e.file_type, "json");
        assert_eq!(
            e.text,
            // Keys in document order; an array's scalars on one line.
            "service.name: api\nservice.ports: 80, 443\nok: true"
        );
        assert!(matches!(
            extract("bad.json", b"{\"a\": "),
            Err(KnowledgeError::InvalidJson(_))
        ));
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            extract("setup.exe", b"MZ"),
            Err(KnowledgeError::UnsupportedType { filename }) if filename == "setup.exe"
        ));
        assert!(matches!(
            extract("report.docx", b"PK"),
            Err(KnowledgeError::UnsupportedType { .. })
        ));
        assert!(matches!(
            extract("noext", b"text"),
            Err(KnowledgeError::UnsupportedType { .. })
        ));
        assert!(matches!(
            extract("a.txt", &[0xff, 0xfe, 0x00]),
            Err(KnowledgeError::NotUtf8)
        ));
        assert!(matches!(
            extract("a.md", b"  \n\t"),
            Err(KnowledgeError::Empty)
        ));
        assert!(matches!(
            extract("a.json", b"{}"),
            Err(KnowledgeError::Empty)
        ));
        let big = vec![b'a'; MAX_UPLOAD_BYTES + 1];
        assert!(matches!(
            extract("big.txt", &big),
            Err(KnowledgeError::TooLarge { limit }) if limit == MAX_UPLOAD_BYTES
        ));
    }

    /// The upload that grew the console past 20 GB: one 4 MB key over an array of 3 million
    /// zeros, 10 MiB in all.
    #[test]
    fn a_long_key_over_millions_of_values_stays_about_the_upload_size() {
        let key = "k".repeat(4_000_000);
        let mut json = format!("{{\"{key}\": [");
        json.push_str(&"0,".repeat(3_000_000 - 1));
        json.push_str("0]}");
        assert!(json.len() <= MAX_UPLOAD_BYTES);
        let e = extract("hostile.json", json.as_bytes()).expect("bounded");
        assert!(e.text.len() < json.len(), "{} bytes of text", e.text.len());
    }

    #[test]
    fn text_beyond_the_multiple_of_the_upload_is_refused() {
        let limits = ExtractLimits {
            text_multiple: 1,
            ..ExtractLimits::default()
        };
        // 30,000 objects of one 60-byte key: each line repeats the key and adds its index.
        let key = "p".repeat(60);
        let objects = vec![format!("{{\"{key}\":1}}"); 30_000].join(",");
        let json = format!("[{objects}]");
        let capped = limits.max_text_bytes(json.len());
        assert!(matches!(
            extract_with("wide.json", json.as_bytes(), &limits),
            Err(KnowledgeError::TextTooLarge { limit }) if limit == capped
        ));
        extract("wide.json", json.as_bytes()).expect("fits 4× the upload");
    }

    #[test]
    fn a_pdf_decompression_bomb_is_refused() {
        let bomb = pdf::tests::bomb_pdf(1 << 30, 2);
        assert!(matches!(
            extract("bomb.pdf", &bomb),
            Err(KnowledgeError::PdfTooLarge { budget }) if budget == PDF_DECODED_BUDGET
        ));
    }

    #[test]
    fn damaged_pdf_is_an_error_not_a_panic() {
        assert!(matches!(
            extract("broken.pdf", b"%PDF-1.4 garbage"),
            Err(KnowledgeError::InvalidPdf(_))
        ));
    }

    #[test]
    fn pdf_text_is_extracted() {
        let pdf = minimal_pdf("Rollback restores the last known good revision");
        let e = extract("runbook.pdf", &pdf).expect("pdf");
        assert_eq!(e.file_type, "pdf");
        assert!(e.text.contains("Rollback restores"), "got {:?}", e.text);
    }

    /// A one-page PDF showing `text` in Helvetica, with a correct cross-reference table.
    pub(crate) fn minimal_pdf(text: &str) -> Vec<u8> {
        let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R >> >> >>"
                .to_owned(),
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_owned(),
        ];
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = pdf.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for offset in offsets {
            table.push_str(&format!("{offset:010} 00000 n \n"));
        }
        pdf.extend_from_slice(table.as_bytes());
        pdf.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }
}
