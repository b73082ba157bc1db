//! Splitting text into overlapping chunks for retrieval.

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
pub fn chunk(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    // Byte offset of every character, plus the end.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars: Vec<char> = text.chars().collect();
    let total = chars.len();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < total {
        let end = if total - start <= size {
            total
        } else {
            break_point(&chars, start, start + size)
        };
        let piece = text[bounds[start]..bounds[end]].trim();
        if !piece.is_empty() {
            chunks.push(piece.to_owned());
        }
        if end == total {
            break;
        }
        start = next_start(&chars, start, end, overlap);
    }
    chunks
}

/// Where to end a chunk that would run from `start` to `limit` (exclusive, in chars).
fn break_point(chars: &[char], start: usize, limit: usize) -> usize {
    let earliest = start + (limit - start) / 2;
    let window = earliest..limit;
    // A paragraph break: end after the blank line.
    if let Some(i) = window
        .clone()
        .rev()
        .find(|&i| i > 0 && chars[i] == '\n' && chars[i - 1] == '\n')
    {
        return i + 1;
    }
    // A sentence end: punctuation followed by whitespace.
    if let Some(i) = window
        .clone()
        .rev()
        .find(|&i| i > 0 && chars[i].is_whitespace() && matches!(chars[i - 1], '.' | '!' | '?'))
    {
        return i + 1;
    }
    if let Some(i) = window.rev().find(|&i| chars[i].is_whitespace()) {
        return i + 1;
    }
    limit
}

/// Start of the chunk after one ending at `end`: `overlap` characters back, moved forward to
/// the next word start inside the overlap; always after `start`.
fn next_start(chars: &[char], start: usize, end: usize, overlap: usize) -> usize {
    let back = end.saturating_sub(overlap).max(start + 1);
    if back == end {
        return end;
    }
    (back..end)
        .find(|&i| i == 0 || (chars[i - 1].is_whitespace() && !chars[i].is_whitespace()))
        .unwrap_or(back)
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
