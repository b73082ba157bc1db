//! JSON flattened to `path: value` lines while it is parsed: no document tree is built, so
//! memory follows the text written, not the number of values.
//!
//! - a scalar in an object: `service.name: api`;
//! - the scalars of an array share one line, the path written once: `service.ports: 80, 443`;
//! - objects and arrays inside an array: `services[0].name: api`.
//!
//! A key longer than [`MAX_KEY`] bytes is shortened, and only the last [`MAX_PATH`] bytes of a
//! path are written, so a long key over a large array costs its length once per line, not
//! once per value. Nesting deeper than serde_json's limit (128) is refused as invalid.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::sink::{TextSink, shorten, tail};
use crate::knowledge::error::KnowledgeError;

/// Longest key written as is.
pub(crate) const MAX_KEY: usize = 64;
/// Longest path written before a value.
pub(crate) const MAX_PATH: usize = 256;

/// Flattens `text` into `sink`.
pub(crate) fn json_text(text: &str, sink: &mut TextSink) -> Result<(), KnowledgeError> {
    let mut flat = Flattener {
        path: String::new(),
        sink,
        array_line_open: false,
        failed: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Node {
        flat: &mut flat,
        item: false,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = flat.failed.take() {
        return Err(e);
    }
    parsed.map_err(|e| KnowledgeError::InvalidJson(e.to_string()))
}

struct Flattener<'s> {
    /// The current path in full (keys shortened); bounded by depth × key length.
    path: String,
    sink: &'s mut TextSink,
    /// The scalars of the array at `path` are being written on one line.
    array_line_open: bool,
    /// Why writing stopped (the cap), kept apart from the parser's errors.
    failed: Option<KnowledgeError>,
}

impl Flattener<'_> {
    fn write(&mut self, parts: &[&str]) -> Result<(), KnowledgeError> {
        for part in parts {
            self.sink.push_str(part)?;
        }
        Ok(())
    }

    /// A scalar value of an object member (or the document itself).
    fn field<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        if value.trim().is_empty() {
            return Ok(());
        }
        let result = self.sink.new_line().and_then(|()| {
            if self.path.is_empty() {
                self.write(&[value])
            } else {
                let path = tail(&self.path, MAX_PATH).into_owned();
                self.write(&[&path, ": ", value])
            }
        });
        self.check(result)
    }

    /// A scalar item of the array at `path`.
    fn item<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        if value.trim().is_empty() {
            return Ok(());
        }
        let result = if self.array_line_open {
            self.write(&[", ", value])
        } else {
            self.array_line_open = true;
            self.sink.new_line().and_then(|()| {
                if self.path.is_empty() {
                    self.write(&[value])
                } else {
                    let path = tail(&self.path, MAX_PATH).into_owned();
                    self.write(&[&path, ": ", value])
                }
            })
        };
        self.check(result)
    }

    fn check<E: de::Error>(&mut self, result: Result<(), KnowledgeError>) -> Result<(), E> {
        result.map_err(|e| {
            self.failed = Some(e);
            E::custom("extraction stopped")
        })
    }
}

/// One value; `item`: it is an element of an array (its scalars join the array's line).
struct Node<'a, 's> {
    flat: &'a mut Flattener<'s>,
    item: bool,
}

impl Node<'_, '_> {
    fn scalar<E: de::Error>(self, value: &str) -> Result<(), E> {
        if self.item {
            self.flat.item(value)
        } else {
            self.flat.field(value)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(if v { "true" } else { "false" })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // serde_json's shortest form (`1e300`, not three hundred digits).
        match serde_json::Number::from_f64(v) {
            Some(n) => self.scalar(&n.to_string()),
            None => Ok(()),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let flat = self.flat;
        let restore = flat.path.len();
        flat.array_line_open = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let len = flat.path.len();
            if !flat.path.is_empty() {
                flat.path.push('.');
            }
            flat.path.push_str(&shorten(&key, MAX_KEY));
            drop(key);
            map.next_value_seed(Node {
                flat: &mut *flat,
                item: false,
            })?;
            flat.path.truncate(len);
            flat.array_line_open = false;
        }
        flat.path.truncate(restore);
        flat.array_line_open = false;
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let flat = self.flat;
        flat.array_line_open = false;
        let mut index = 0usize;
        loop {
            let seed = Item {
                flat: &mut *flat,
                index,
            };
            if seq.next_element_seed(seed)?.is_none() {
                break;
            }
            index += 1;
        }
        flat.array_line_open = false;
        Ok(())
    }
}

/// Element `index` of the array at the flattener's path.
struct Item<'a, 's> {
    flat: &'a mut Flattener<'s>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Item<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Item<'_, '_> {
    /// Runs `visit` for a nested object or array at `path[index]`.
    fn nested<R>(self, visit: impl FnOnce(Node<'_, '_>) -> R) -> R {
        let flat = self.flat;
        let len = flat.path.len();
        flat.path.push_str(&format!("[{}]", self.index));
        flat.array_line_open = false;
        let result = visit(Node {
            flat: &mut *flat,
            item: false,
        });
        flat.path.truncate(len);
        flat.array_line_open = false;
        result
    }
}

impl<'de> Visitor<'de> for Item<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        Node {
            flat: self.flat,
            item: true,
        }
        .visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Node {
            flat: self.flat,
            item: true,
        }
        .visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        Node {
            flat: self.flat,
            item: true,
        }
        .visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Node {
            flat: self.flat,
            item: true,
        }
        .visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        Node {
            flat: self.flat,
            item: true,
        }
        .visit_str(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.nested(|node| node.visit_map(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.nested(|node| node.visit_seq(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(json: &str, limit: usize) -> Result<String, KnowledgeError> {
        let mut sink = TextSink::new(limit);
        json_text(json, &mut sink)?;
        Ok(sink.into_string())
    }

    #[test]
    fn scalars_of_an_array_share_one_line() {
        let text = flat(
            r#"{"service": {"name": "api", "ports": [80, 443]}, "ok": true, "none": null,
                "items": [{"a": 1}, [2, 3], 4.5, "", "x"]}"#,
            1 << 20,
        )
        .expect("json");
        assert_eq!(
            text,
            "service.name: api\nservice.ports: 80, 443\nok: true\n\
             items[0].a: 1\nitems[1]: 2, 3\nitems: 4.5, x"
        );
    }

    #[test]
    fn a_long_key_over_a_large_array_is_written_once_per_line() {
        let key = "k".repeat(4 * 1024 * 1024);
        let zeros = vec!["0"; 300_000].join(",");
        let json = format!("{{\"{key}\": [{zeros}]}}");
        let text = flat(&json, 2 * json.len()).expect("bounded");
        assert!(text.len() < json.len(), "{} bytes", text.len());
        assert!(text.starts_with(&format!("{}…: 0, 0", "k".repeat(MAX_KEY))));
    }

    #[test]
    fn deep_paths_are_cut_to_their_tail_and_the_cap_holds() {
        let deep = format!("{}1{}", "{\"abc\":".repeat(100), "}".repeat(100));
        let text = flat(&deep, 1 << 20).expect("deep");
        assert!(text.len() <= MAX_PATH + 8, "{text}");
        assert!(text.ends_with("abc.abc: 1"));
        let too_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            flat(&too_deep, 1 << 20),
            Err(KnowledgeError::InvalidJson(_))
        ));
        assert!(matches!(
            flat(r#"{"a": "0123456789"}"#, 8),
            Err(KnowledgeError::TextTooLarge { limit: 8 })
        ));
    }
}
