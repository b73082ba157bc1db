//! Splitting text into overlapping chunks for retrieval.
//!
//! Chunks are slices of the text: no copy of the document is made (no `Vec<char>`, no table
//! of offsets), so chunking a 10 MiB text costs the chunk list, not several times the text.

/// Default chunk size, in characters.
pub const CHUNK_SIZE: usize = 1000;
/// Default overlap between consecutive chunks, in characters.
pub const CHUNK_OVERLAP: usize = 200;

/// Splits `text` into chunks of at most `size` characters (not bytes; never inside a
/// character), each starting about `overlap` characters before the previous one ended so no
/// sentence is only ever seen cut in two. A chunk ends, by preference, at a paragraph break,
/// then a sentence end, then whitespace, found in the last half of the window; a hard cut
/// only for text without any. The next chunk starts at a word boundary inside the overlap.
/// Chunks are trimmed; none is empty.
pub fn chunk(text: &str, size: usize, overlap: usize) -> Vec<&str> {
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (half, limit) = advance(text, start, size);
        let end = if limit == text.len() {
            limit
        } else {
            break_point(text, half, limit)
        };
        let piece = text[start..end].trim();
        if !piece.is_empty() {
            chunks.push(piece);
        }
        if end == text.len() {
            break;
        }
        start = next_start(text, start, end, overlap);
    }
    chunks
}

/// Byte offsets `size / 2` and `size` characters after `start` (or the end of the text).
fn advance(text: &str, start: usize, size: usize) -> (usize, usize) {
    let mut offsets = text[start..].char_indices().map(|(i, _)| start + i);
    let half = offsets.nth(size / 2).unwrap_or(text.len());
    let limit = offsets.nth(size - size / 2 - 1).unwrap_or(text.len());
    (half, limit)
}

/// Where to end a chunk whose window for a break runs from `earliest` to `limit` (bytes).
fn break_point(text: &str, earliest: usize, limit: usize) -> usize {
    let window = &text[earliest..limit];
    let before = |i: usize| text[..earliest + i].chars().next_back();
    // A paragraph break: end after the blank line.
    if let Some((i, _)) = window
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '\n' && before(i) == Some('\n'))
    {
        return earliest + i + 1;
    }
    // A sentence end: punctuation followed by whitespace.
    if let Some((i, c)) = window
        .char_indices()
        .rev()
        .find(|&(i, c)| c.is_whitespace() && matches!(before(i), Some('.' | '!' | '?')))
    {
        return earliest + i + c.len_utf8();
    }
    if let Some((i, c)) = window.char_indices().rev().find(|(_, c)| c.is_whitespace()) {
        return earliest + i + c.len_utf8();
    }
    limit
}

/// Start of the chunk after one ending at `end`: `overlap` characters back, moved forward to
/// the next word start inside the overlap; always after `start`.
fn next_start(text: &str, start: usize, end: usize, overlap: usize) -> usize {
    let after_start = start + text[start..].chars().next().map_or(1, char::len_utf8);
    let back = if overlap == 0 {
        end
    } else {
        text[..end]
            .char_indices()
            .rev()
            .nth(overlap - 1)
            .map_or(0, |(i, _)| i)
    }
    .max(after_start);
    if back >= end {
        return end;
    }
    text[back..end]
        .char_indices()
        .map(|(i, c)| (back + i, c))
        .find(|&(i, c)| {
            i == 0
                || (!c.is_whitespace()
                    && text[..i]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_whitespace))
        })
        .map_or(back, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prose(sentences: usize) -> String {
        (0..sentences)
            .map(|i| {
                let para = if i % 7 == 6 { "\n\n" } else { " " };
                format!("Sentence number {i} talks about rotation and rollback.{para}")
            })
            .collect()
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(chunk("  hello world  ", 1000, 200), vec!["hello world"]);
        assert!(chunk("", 1000, 200).is_empty());
        assert!(chunk(" \n\t ", 1000, 200).is_empty());
    }

    #[test]
    fn chunks_are_bounded_non_empty_and_cover_every_word() {
        let text = prose(200);
        let chunks = chunk(&text, CHUNK_SIZE, CHUNK_OVERLAP);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(!c.is_empty());
            assert!(c.chars().count() <= CHUNK_SIZE);
        }
        for i in 0..200 {
            let needle = format!("Sentence number {i} talks");
            assert!(
                chunks.iter().any(|c| c.contains(&needle)),
                "sentence {i} lost"
            );
        }
    }

    #[test]
    fn consecutive_chunks_overlap() {
        let text = prose(200);
        let chunks = chunk(&text, CHUNK_SIZE, CHUNK_OVERLAP);
        for pair in chunks.windows(2) {
            let head: String = pair[1].chars().take(50).collect();
            assert!(pair[0].contains(&head), "no overlap between {pair:?}");
        }
    }

    #[test]
    fn breaks_prefer_sentence_ends() {
        let text = prose(200);
        for c in chunk(&text, CHUNK_SIZE, CHUNK_OVERLAP).iter().rev().skip(1) {
            assert!(c.ends_with('.'), "chunk ends mid-sentence: {c:?}");
        }
    }

    #[test]
    fn unicode_is_split_on_character_boundaries() {
        let text = "日本語のテキスト。".repeat(300) + &"é".repeat(2500);
        let chunks = chunk(&text, 100, 20);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
        let joined: usize = chunks.iter().map(|c| c.chars().count()).sum();
        assert!(joined >= text.chars().count());
    }

    #[test]
    fn text_without_whitespace_is_hard_cut_with_overlap() {
        let text = "x".repeat(2500);
        let chunks = chunk(&text, 1000, 200);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 900]
        );
    }

    #[test]
    fn degenerate_sizes_still_progress() {
        let chunks = chunk("abc def", 1, 5);
        assert_eq!(chunks.concat(), "abcdef");
        assert_eq!(chunk("abcdef", 4, 100), vec!["abcd", "cdef"]);
    }
}
