//! CSV (RFC 4180: quoted fields may hold commas, quotes as `""` and newlines) as lines, read
//! one row at a time.
//!
//! With a header row, each later row becomes `header: value; ...` (headers longer than
//! [`MAX_HEADER`] bytes shortened). When that form would not fit under the text cap (many
//! columns of short values under long headers), the header is written once as
//! `columns: a, b, c` and each row as its values, so the text stays about the upload's size.

use super::sink::{TextSink, shorten};
use crate::knowledge::error::KnowledgeError;

/// Longest header written as is before each value.
pub(crate) const MAX_HEADER: usize = 64;

pub(crate) fn csv_text(
    text: &str,
    sink: &mut TextSink,
    limit: usize,
) -> Result<(), KnowledgeError> {
    // First pass: the header, whether there are data rows, and the labelled form's size.
    let mut header: Option<Vec<String>> = None;
    let mut data_rows = 0usize;
    let mut labelled = 0usize;
    for_each_row(text, |row| {
        match &header {
            None => {
                header = Some(
                    row.iter()
                        .map(|h| shorten(h, MAX_HEADER).into_owned())
                        .collect(),
                )
            }
            Some(h) => {
                data_rows += 1;
                labelled = labelled.saturating_add(labelled_len(h, row) + 1);
            }
        }
        Ok(())
    })?;
    let Some(header) = header else {
        return Ok(());
    };
    if data_rows == 0 {
        return sink.push_str(&header.join(", "));
    }
    let with_labels = labelled <= limit.saturating_sub(sink.len());
    if !with_labels {
        sink.push_str("columns: ")?;
        sink.push_str(&header.join(", "))?;
    }
    let mut first = true;
    for_each_row(text, |row| {
        if first {
            first = false;
            return Ok(());
        }
        sink.new_line()?;
        let mut written = false;
        for (i, value) in row.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
            if written {
                sink.push_str(if with_labels { "; " } else { ", " })?;
            }
            written = true;
            match header.get(i).filter(|h| with_labels && !h.is_empty()) {
                Some(h) => {
                    sink.push_str(h)?;
                    sink.push_str(": ")?;
                    sink.push_str(value)?;
                }
                None => sink.push_str(value)?,
            }
        }
        Ok(())
    })
}

/// Bytes of `row` written as `header: value; ...`.
fn labelled_len(header: &[String], row: &[String]) -> usize {
    let mut len = 0usize;
    let mut count = 0usize;
    for (i, value) in row.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
        count += 1;
        len = len.saturating_add(value.len());
        if let Some(h) = header.get(i).filter(|h| !h.is_empty()) {
            len = len.saturating_add(h.len() + 2);
        }
    }
    len.saturating_add(2 * count.saturating_sub(1))
}

/// Calls `each` with every row that has a non-empty field, fields trimmed. One row is held
/// at a time.
fn for_each_row(
    text: &str,
    mut each: impl FnMut(&[String]) -> Result<(), KnowledgeError>,
) -> Result<(), KnowledgeError> {
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut emit = |row: &mut Vec<String>| -> Result<(), KnowledgeError> {
        if row.iter().any(|f| !f.is_empty()) {
            each(row)?;
        }
        row.clear();
        Ok(())
    };
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
            ',' => row.push(take_trimmed(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                row.push(take_trimmed(&mut field));
                emit(&mut row)?;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(take_trimmed(&mut field));
        emit(&mut row)?;
    }
    Ok(())
}

fn take_trimmed(field: &mut String) -> String {
    let trimmed = field.trim().to_owned();
    field.clear();
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str, limit: usize) -> Result<String, KnowledgeError> {
        let mut sink = TextSink::new(limit);
        csv_text(text, &mut sink, limit)?;
        Ok(sink.into_string())
    }

    #[test]
    fn rows_become_labelled_lines() {
        assert_eq!(csv("a,b\n1,\n,2\n", 1000).expect("csv"), "a: 1\nb: 2");
        assert_eq!(csv("only,header\n", 1000).expect("csv"), "only, header");
    }

    #[test]
    fn a_wide_header_is_written_once_when_labels_would_not_fit() {
        let header: Vec<String> = (0..2000)
            .map(|i| format!("{}{i}", "h".repeat(200)))
            .collect();
        let row = vec!["1"; 2000].join(",");
        let mut text = header.join(",");
        for _ in 0..200 {
            text.push('\n');
            text.push_str(&row);
        }
        // Labelled, this would be 200 rows × 2000 × ~70 bytes = 28 MB.
        let out = csv(&text, 4 * text.len()).expect("bounded");
        assert!(out.len() <= 4 * text.len());
        assert!(out.starts_with("columns: "));
        assert!(out.lines().nth(1).expect("a row").starts_with("1, 1, 1"));
    }
}
