//! Where extractors write their text: one growing string with a hard cap, so no input can
//! make extraction hold more than the cap however much its format repeats itself.

use crate::knowledge::error::KnowledgeError;

/// Extracted text, refused with [`KnowledgeError::TextTooLarge`] past `limit` bytes. NUL
/// characters are dropped on the way in: PostgreSQL text cannot hold them and they mean
/// nothing to a reader or to search.
pub(crate) struct TextSink {
    text: String,
    limit: usize,
}

impl TextSink {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Appends `s` whole, or nothing when it would pass the cap.
    pub(crate) fn push_str(&mut self, s: &str) -> Result<(), KnowledgeError> {
        if self.text.len().saturating_add(s.len()) > self.limit {
            return Err(KnowledgeError::TextTooLarge { limit: self.limit });
        }
        if s.contains('\0') {
            self.text.extend(s.chars().filter(|c| *c != '\0'));
        } else {
            self.text.push_str(s);
        }
        Ok(())
    }

    /// A line break unless nothing was written yet.
    pub(crate) fn new_line(&mut self) -> Result<(), KnowledgeError> {
        if self.is_empty() {
            Ok(())
        } else {
            self.push_str("\n")
        }
    }

    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut: keys and
/// headers are repeated on many lines, so a long one must not be repeated whole.
pub(crate) fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &s[..end]))
}

/// The last `max` bytes of `s` (on a character boundary), with a leading `…` when cut.
pub(crate) fn tail(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    std::borrow::Cow::Owned(format!("…{}", &s[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_whole_pieces_and_nul_is_dropped() {
        let mut sink = TextSink::new(5);
        sink.push_str("a\0bc").expect("fits");
        assert!(matches!(
            sink.push_str("def"),
            Err(KnowledgeError::TextTooLarge { limit: 5 })
        ));
        sink.push_str("de").expect("fits exactly");
        assert_eq!(sink.into_string(), "abcde");
    }

    #[test]
    fn shortening_keeps_characters_whole() {
        assert_eq!(shorten("héllo", 2), "h…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(tail("a.b.é", 2), "…é");
    }
}
