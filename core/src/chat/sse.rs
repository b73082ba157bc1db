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

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buffer[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        {
            let end = start + pos;
            // A lone `\r` at the very end may be the first half of `\r\n`: wait for more.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            let skip = if self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = end + skip;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.buffer.drain(..start);
        events
    }

    /// The end of the stream: a last event not followed by a blank line is still dispatched.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buffer.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.buffer)).into_owned();
            if let Some(event) = self.line(&line) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data).join("\n"),
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
            let mut got = parser.push(a);
            got.extend(parser.push(b));
            got.extend(parser.finish());
            assert_eq!(got, expected, "split at {split}");
        }
        let mut parser = SseParser::new();
        let mut got = Vec::new();
        for byte in text.as_bytes() {
            got.extend(parser.push(std::slice::from_ref(byte)));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn cr_only_line_endings_and_trailing_event() {
        let mut parser = SseParser::new();
        let mut got = parser.push(b"data: a\r\rdata:b");
        assert_eq!(got, vec![ev(None, "a")]);
        got = parser.finish().into_iter().collect();
        assert_eq!(got, vec![ev(None, "b")]);
    }

    #[test]
    fn event_name_without_data_is_dropped() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: ping\n\n").is_empty());
        assert_eq!(parser.push(b"data: x\n\n"), vec![ev(None, "x")]);
    }
}
