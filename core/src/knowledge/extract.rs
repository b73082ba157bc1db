//! Turning an uploaded file into text, by its extension.

use super::error::KnowledgeError;

/// Largest upload accepted: 10 MiB.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The file types [`extract`] reads, as stored in `javari_knowledge_documents.file_type`.
pub const SUPPORTED_TYPES: &[&str] = &["txt", "md", "csv", "json", "pdf"];

/// The text of an uploaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct Extracted {
    /// One of [`SUPPORTED_TYPES`].
    pub file_type: &'static str,
    pub text: String,
}

/// Reads `bytes` as the type named by `filename`'s extension (case-insensitive):
/// - `.txt`, `.text`, `.log`: UTF-8 text as is;
/// - `.md`, `.markdown`: Markdown, kept as written;
/// - `.csv`: one line per row, `header: value; ...` when the first row is a header;
/// - `.json`: one `path: value` line per scalar (`services[0].name: api`);
/// - `.pdf`: the text of every page.
pub fn extract(filename: &str, bytes: &[u8]) -> Result<Extracted, KnowledgeError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(KnowledgeError::too_large());
    }
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let (file_type, text) = match extension.as_str() {
        "txt" | "text" | "log" => ("txt", utf8(bytes)?.to_owned()),
        "md" | "markdown" => ("md", utf8(bytes)?.to_owned()),
        "csv" => ("csv", csv_text(utf8(bytes)?)?),
        "json" => ("json", json_text(bytes)?),
        "pdf" => ("pdf", pdf_text(bytes)?),
        _ => {
            return Err(KnowledgeError::UnsupportedType {
                filename: filename.to_owned(),
            });
        }
    };
    // PostgreSQL text cannot hold NUL (PDFs and some exports carry them); they mean nothing
    // to a reader or to search.
    let text = if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    };
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

/// CSV (RFC 4180: quoted fields may hold commas, quotes as `""` and newlines) as lines.
fn csv_text(text: &str) -> Result<String, KnowledgeError> {
    let rows = parse_csv(text)?;
    let mut rows = rows.into_iter().filter(|r| r.iter().any(|f| !f.is_empty()));
    let Some(first) = rows.next() else {
        return Ok(String::new());
    };
    let rest: Vec<Vec<String>> = rows.collect();
    if rest.is_empty() {
        return Ok(first.join(", "));
    }
    let lines: Vec<String> = rest
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(i, v)| match first.get(i).filter(|h| !h.is_empty()) {
                    Some(h) => format!("{h}: {v}"),
                    None => v.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    Ok(lines.join("\n"))
}

fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, KnowledgeError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                let start = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                        None => {
                            return Err(KnowledgeError::InvalidCsv(format!(
                                "the quoted field starting on line {start} is never closed"
                            )));
                        }
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    return Err(KnowledgeError::InvalidCsv(format!(
                        "text after a closing quote on line {line}"
                    )));
                }
            }
            ',' => row.push(std::mem::take(&mut field).trim().to_owned()),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field).trim().to_owned());
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field.trim().to_owned());
        rows.push(row);
    }
    Ok(rows)
}

/// JSON flattened to `path: value` lines.
fn json_text(bytes: &[u8]) -> Result<String, KnowledgeError> {
    let text = utf8(bytes)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| KnowledgeError::InvalidJson(e.to_string()))?;
    let mut lines = Vec::new();
    flatten(&value, String::new(), &mut lines);
    Ok(lines.join("\n"))
}

fn flatten(value: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    let line = |v: String| {
        if path.is_empty() {
            v
        } else {
            format!("{path}: {v}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, child, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        Value::Null => {}
        Value::String(s) if s.trim().is_empty() => {}
        Value::String(s) => out.push(line(s.clone())),
        Value::Bool(b) => out.push(line(b.to_string())),
        Value::Number(n) => out.push(line(n.to_string())),
    }
}

/// The text of a PDF. The parser panics on some malformed files; that is caught and
/// reported as [`KnowledgeError::InvalidPdf`].
fn pdf_text(bytes: &[u8]) -> Result<String, KnowledgeError> {
    let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(KnowledgeError::InvalidPdf(e.to_string())),
        Err(_) => Err(KnowledgeError::InvalidPdf(
            "the file is damaged or uses features the text extractor does not support".into(),
        )),
    }
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
            // Keys in sorted order.
            "ok: true\nservice.name: api\nservice.ports[0]: 80\nservice.ports[1]: 443"
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
