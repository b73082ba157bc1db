//! The text of a PDF, after a check that its compressed streams stay within a byte budget.
//!
//! The PDF parser decompresses every stream it reads whole and without a bound, so a few
//! kilobytes of FlateDecode can expand to gigabytes (a decompression bomb). Before parsing,
//! every `stream … ` in the file is decoded here the way the parser would (FlateDecode with
//! its raw-deflate fallback, LZWDecode, ASCII85Decode, chained in order), counting bytes and
//! stopping at the budget; the single-Flate case, by far the most common, is counted without
//! keeping its output. Encrypted PDFs are refused: their streams cannot be measured before
//! decryption.

use std::io::Read;

use crate::knowledge::error::KnowledgeError;

/// How far back from `stream` the stream's dictionary is looked for.
const DICTIONARY_WINDOW: usize = 64 * 1024;

pub(crate) fn pdf_text(bytes: &[u8], budget: usize) -> Result<String, KnowledgeError> {
    check_decoded_size(bytes, budget)?;
    let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(KnowledgeError::InvalidPdf(e.to_string())),
        Err(_) => Err(KnowledgeError::InvalidPdf(
            "the file is damaged or uses features the text extractor does not support".into(),
        )),
    }
}

/// Refuses a PDF whose streams decode to more than `budget` bytes in all.
pub(crate) fn check_decoded_size(bytes: &[u8], budget: usize) -> Result<(), KnowledgeError> {
    if find(bytes, b"/Encrypt").is_some() {
        return Err(KnowledgeError::InvalidPdf(
            "the PDF is encrypted: remove its password and upload it again".into(),
        ));
    }
    let over = || KnowledgeError::PdfTooLarge { budget };
    let mut total = 0usize;
    let mut pos = 0usize;
    while let Some(found) = find(&bytes[pos..], b"stream") {
        let at = pos + found;
        pos = at + b"stream".len();
        if bytes[..at].ends_with(b"end") {
            continue;
        }
        let data_start = if bytes[pos..].starts_with(b"\r\n") {
            pos + 2
        } else if bytes[pos..].starts_with(b"\n") || bytes[pos..].starts_with(b"\r") {
            pos + 1
        } else {
            continue;
        };
        let dictionary = dictionary_before(bytes, at);
        let filters = filters(dictionary);
        if filters.is_empty() {
            continue;
        }
        let mut data = &bytes[data_start..];
        if let Some(length) = direct_length(dictionary) {
            data = &data[..length.min(data.len())];
        }
        let left = budget.checked_sub(total).ok_or_else(over)?;
        let decoded = decoded_len(data, &filters, left).ok_or_else(over)?;
        total = total.checked_add(decoded).ok_or_else(over)?;
        if total > budget {
            return Err(over());
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    Flate,
    Lzw,
    Ascii85,
    /// One the parser does not decode (images and the like): nothing is expanded.
    Other,
}

/// Bytes `data` decodes to through `filters`; `None` past `budget`.
fn decoded_len(data: &[u8], filters: &[Filter], budget: usize) -> Option<usize> {
    if filters.contains(&Filter::Other) {
        // The parser stops at a filter it cannot decode; what comes before it is bounded by
        // the stages that run, measured below without the rest.
        let runs: Vec<Filter> = filters
            .iter()
            .copied()
            .take_while(|f| *f != Filter::Other)
            .collect();
        return if runs.is_empty() {
            Some(0)
        } else {
            decoded_len(data, &runs, budget)
        };
    }
    if let [Filter::Flate] = filters {
        return count_flate(data, budget);
    }
    let mut current = std::borrow::Cow::Borrowed(data);
    for filter in filters {
        let next = match filter {
            Filter::Flate => inflate(&current, budget)?,
            Filter::Lzw => unlzw(&current, budget)?,
            Filter::Ascii85 => current.to_vec(),
            Filter::Other => return Some(0),
        };
        current = std::borrow::Cow::Owned(next);
    }
    Some(current.len())
}

/// Counts what a zlib stream inflates to (with the parser's raw-deflate fallback), keeping
/// nothing.
fn count_flate(data: &[u8], budget: usize) -> Option<usize> {
    let mut sink = CountingSink { count: 0, budget };
    let zlib = std::io::copy(&mut flate2::read::ZlibDecoder::new(data), &mut sink);
    if sink.count > budget {
        return None;
    }
    if zlib.is_err() && sink.count == 0 && data.len() > 2 {
        let mut sink = CountingSink { count: 0, budget };
        let _ = std::io::copy(
            &mut flate2::read::DeflateDecoder::new(&data[2..]),
            &mut sink,
        );
        return (sink.count <= budget).then_some(sink.count);
    }
    Some(sink.count)
}

fn inflate(data: &[u8], budget: usize) -> Option<Vec<u8>> {
    let limit = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    let zlib = flate2::read::ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out);
    if zlib.is_err() && out.is_empty() && data.len() > 2 {
        let _ = flate2::read::DeflateDecoder::new(&data[2..])
            .take(limit)
            .read_to_end(&mut out);
    }
    (out.len() <= budget).then_some(out)
}

fn unlzw(data: &[u8], budget: usize) -> Option<Vec<u8>> {
    // LZW output is at most about 4096 bytes per 9-bit code; measured by decoding in pieces.
    let mut decoder = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = data;
    loop {
        let result = decoder.decode_bytes(input, &mut buf);
        out.extend_from_slice(&buf[..result.consumed_out]);
        if out.len() > budget {
            return None;
        }
        input = &input[result.consumed_in..];
        match result.status {
            Ok(weezl::LzwStatus::Ok) if result.consumed_in > 0 || result.consumed_out > 0 => {}
            _ => break,
        }
    }
    Some(out)
}

struct CountingSink {
    count: usize,
    budget: usize,
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.count = self.count.saturating_add(buf.len());
        if self.count > self.budget {
            return Err(std::io::Error::other("over the budget"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The text between the object header before `at` and `at`: the stream's dictionary.
fn dictionary_before(bytes: &[u8], at: usize) -> &[u8] {
    let from = at.saturating_sub(DICTIONARY_WINDOW);
    let window = &bytes[from..at];
    match rfind(window, b" obj") {
        Some(i) => &window[i..],
        None => window,
    }
}

/// The stream's filters in decoding order, as the parser names them.
fn filters(dictionary: &[u8]) -> Vec<Filter> {
    let Some(i) = find(dictionary, b"/Filter") else {
        return Vec::new();
    };
    let rest = &dictionary[i + b"/Filter".len()..];
    let rest = trim_start(rest);
    let names: Vec<&[u8]> = match rest.first() {
        Some(b'/') => vec![name(&rest[1..])],
        Some(b'[') => {
            let end = rest.iter().position(|b| *b == b']').unwrap_or(rest.len());
            rest[1..end]
                .split(|b| *b == b'/')
                .skip(1)
                .map(name)
                .collect()
        }
        // An indirect /Filter: the parser treats the stream as not compressed.
        _ => return Vec::new(),
    };
    names
        .into_iter()
        .map(|n| match n {
            b"FlateDecode" => Filter::Flate,
            b"LZWDecode" => Filter::Lzw,
            b"ASCII85Decode" => Filter::Ascii85,
            _ => Filter::Other,
        })
        .collect()
}

/// `/Length 1234` when written directly (not as a reference).
fn direct_length(dictionary: &[u8]) -> Option<usize> {
    let i = find(dictionary, b"/Length")?;
    let rest = trim_start(&dictionary[i + b"/Length".len()..]);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = trim_start(&rest[digits..]);
    if digits == 0 || after.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn name(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace() || b"/[]<>()".contains(b))
        .unwrap_or(bytes.len());
    &bytes[..end]
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[n..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// A zlib stream of `copies × 258 + 1` spaces, written by hand (one fixed-Huffman block:
    /// a space, then copies of the previous 258 bytes), so no test compresses gigabytes.
    fn spaces_zlib(copies: usize) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let (mut acc, mut bits) = (0u32, 0u32);
        let mut put = |value: u32, n: u32, reversed: bool, out: &mut Vec<u8>| {
            for i in 0..n {
                let bit = if reversed {
                    (value >> (n - 1 - i)) & 1
                } else {
                    (value >> i) & 1
                };
                acc |= bit << bits;
                bits += 1;
                if bits == 8 {
                    out.push(acc as u8);
                    (acc, bits) = (0, 0);
                }
            }
        };
        put(1, 1, false, &mut out); // last block
        put(1, 2, false, &mut out); // fixed Huffman codes
        put(0x30 + u32::from(b' '), 8, true, &mut out);
        for _ in 0..copies {
            put(0xC5, 8, true, &mut out); // length 258
            put(0, 5, true, &mut out); // distance 1
        }
        put(0, 7, true, &mut out); // end of block
        put(0, 7, false, &mut out); // pad to a byte
        out
    }

    /// A PDF whose one page's content stream is about `inflated` bytes of spaces, Flate-
    /// compressed `layers` times.
    pub(crate) fn bomb_pdf(inflated: usize, layers: usize) -> Vec<u8> {
        let mut data = spaces_zlib(inflated / 258);
        for _ in 1..layers {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(&data).expect("compress");
            data = z.finish().expect("compress");
        }
        let filter = vec!["/FlateDecode"; layers].join(" ");
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
            2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
            3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
            .to_vec();
        pdf.extend_from_slice(
            format!(
                "4 0 obj\n<< /Length {} /Filter [{filter}] >>\nstream\n",
                data.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
        pdf
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_parsing() {
        // 1 GiB of spaces in under 7 MB; compressed once more, a few kilobytes.
        for layers in [1, 2] {
            let pdf = bomb_pdf(1 << 30, layers);
            assert!(pdf.len() < 7 << 20, "{} bytes", pdf.len());
            assert!(matches!(
                check_decoded_size(&pdf, 64 << 20),
                Err(KnowledgeError::PdfTooLarge { .. })
            ));
        }
        let small = bomb_pdf(1000, 2);
        check_decoded_size(&small, 64 << 20).expect("a small stream fits");
    }

    #[test]
    fn filters_and_lengths_are_read_from_the_dictionary() {
        assert_eq!(
            filters(b" obj << /Length 5 /Filter [/ASCII85Decode /FlateDecode] >>"),
            vec![Filter::Ascii85, Filter::Flate]
        );
        assert_eq!(filters(b"<< /Filter /DCTDecode >>"), vec![Filter::Other]);
        assert_eq!(direct_length(b"<< /Length 12 /Filter /X >>"), Some(12));
        assert_eq!(direct_length(b"<< /Length 7 0 R >>"), None);
        assert!(matches!(
            check_decoded_size(b"%PDF-1.4 trailer << /Encrypt 5 0 R >>", 1 << 20),
            Err(KnowledgeError::InvalidPdf(_))
        ));
    }
}
