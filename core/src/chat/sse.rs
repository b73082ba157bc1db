//! An incremental Server-Sent Events parser: feed it byte chunks as they arrive (events may be
//! split anywhere, even inside a UTF-8 character), get complete events back.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Longest line (and longest event, its `data:` lines together) accepted by default.
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

/// The stream sent a line or an event longer than the parser's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an event line longer than {limit} bytes")]
pub struct LineTooLong {
    pub limit: usize,
}

/// Holds only the unfinished line and the current event's data; every byte is looked at once.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    /// The last chunk ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    max_line: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(DEFAULT_MAX_LINE_BYTES)
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser refusing lines (and events) longer than `max_line` bytes.
    pub fn with_limit(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            max_line,
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), LineTooLong> {
        if self.line.len() + bytes.len() > self.max_line {
            self.line.clear();
            return Err(LineTooLong {
                limit: self.max_line,
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Consumes a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.append(&rest[..pos])?;
            let mut next = pos + 1;
            if rest[pos] == b'\r' {
                match rest.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            rest = &rest[next..];
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.line(&String::from_utf8_lossy(&line))? {
                events.push(event);
            }
        }
        self.append(rest)?;
        Ok(events)
    }

    /// The end of the stream: a last event not followed by a blank line is still dispatched.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, LineTooLong> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.line(&String::from_utf8_lossy(&line))? {
                return Ok(Some(event));
            }
        }
        Ok(self.dispatch())
    }

    fn line(&mut self, line: &str) -> Result<Option<SseEvent>, LineTooLong> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_line {
                    self.data.clear();
                    self.has_data = false;
                    return Err(LineTooLong {
                        limit: self.max_line,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_split_at_every_byte_boundary() {
        let text = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: comment\n\ndata: héllo\ndata: world\n\ndata: [DONE]\n\n";
        let expected = vec![
            ev(Some("message_start"), "{\"a\":1}"),
            ev(None, "héllo\nworld"),
            ev(None, "[DONE]"),
        ];
        for split in 0..text.len() {
            let mut parser = SseParser::new();
            let (a, b) = text.as_bytes().split_at(split);
            let mut got = parser.push(a).expect("short lines");
            got.extend(parser.push(b).expect("short lines"));
            got.extend(parser.finish().expect("short lines"));
            assert_eq!(got, expected, "split at {split}");
        }
        let mut parser = SseParser::new();
        let mut got = Vec::new();
        for byte in text.as_bytes() {
            got.extend(
                parser
                    .push(std::slice::from_ref(byte))
                    .expect("short lines"),
            );
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn cr_only_line_endings_and_trailing_event() {
        let mut parser = SseParser::new();
        let mut got = parser.push(b"data: a\r\rdata:b").expect("short");
        assert_eq!(got, vec![ev(None, "a")]);
        got = parser.finish().expect("short").into_iter().collect();
        assert_eq!(got, vec![ev(None, "b")]);
    }

    #[test]
    fn event_name_without_data_is_dropped() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: ping\n\n").expect("short").is_empty());
        assert_eq!(
            parser.push(b"data: x\n\n").expect("short"),
            vec![ev(None, "x")]
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_buffering_it() {
        let mut parser = SseParser::with_limit(1024);
        let chunk = vec![b'x'; 512];
        assert_eq!(parser.push(b"data: ").expect("short"), vec![]);
        assert!(parser.push(&chunk).is_ok());
        assert_eq!(parser.push(&chunk), Err(LineTooLong { limit: 1024 }));
        assert!(
            parser.line.capacity() <= 2048,
            "nothing beyond the limit is held"
        );
        // Many data lines of one event count together.
        let mut parser = SseParser::with_limit(100);
        let mut failed = false;
        for _ in 0..10 {
            failed |= parser.push(b"data: 0123456789abcdef\n").is_err();
        }
        assert!(failed, "an event's data is bounded too");
        // Lines under the limit still pass.
        let mut parser = SseParser::with_limit(100);
        assert_eq!(
            parser.push(b"data: ok\n\n").expect("short"),
            vec![ev(None, "ok")]
        );
    }
}
