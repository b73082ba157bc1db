//! The stored form of one dump file: zstd-compressed, then sealed with AES-256-GCM under the
//! backup's data key in segments (the STREAM construction), so a file of any size is written
//! and read in bounded memory and a truncated, reordered or flipped byte is detected.
//!
//! ```text
//! header   "JVBK" | version 1 | data key id (8) | nonce prefix (7)
//! frame*   ciphertext length (u32 BE) | ciphertext with tag
//! nonce    nonce prefix (7) | last-frame flag (1) | frame counter (u32 BE)
//! aad      "javari-backup/v1:{backup id}:{file name}"
//! ```

use std::io::Write;

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"JVBK";
const VERSION: u8 = 1;
/// Header length: magic, version, key id, nonce prefix.
pub const HEADER_LEN: usize = 4 + 1 + 8 + 7;
/// Compressed bytes per sealed frame.
pub const SEGMENT: usize = 1 << 20;
const TAG: usize = 16;

/// Why a stored file cannot be opened. Every variant names the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("{file}: not a Javari backup object (bad header)")]
    BadHeader { file: String },
    #[error(
        "{file}: encrypted with data key {found}, not with this backup's data key {expected}: wrong data key refused"
    )]
    WrongKey {
        file: String,
        expected: String,
        found: String,
    },
    #[error("{file}: frame {frame} does not decrypt: the object was modified or corrupted")]
    Tampered { file: String, frame: u32 },
    #[error("{file}: the object ends before its last frame: truncated")]
    Truncated { file: String },
    #[error("{file}: data after the last frame")]
    Trailing { file: String },
    #[error("{file}: frame of {len} bytes exceeds the segment size")]
    FrameTooLarge { file: String, len: usize },
    #[error("{file}: decompression failed: {reason}")]
    Decompress { file: String, reason: String },
    #[error("{file}: {reason}")]
    Io { file: String, reason: String },
}

/// A backup's data key: 32 random bytes, sealed in the vault, never printed.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(arr)))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A fingerprint that identifies the key without revealing it.
    pub fn id(&self) -> [u8; 8] {
        let d = Sha256::new()
            .chain_update(b"javari-backup-data-key:")
            .chain_update(self.0.as_ref())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        id
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id_hex())
    }
}

fn nonce(prefix: &[u8; 7], last: bool, counter: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7] = u8::from(last);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn aad(backup_id: &str, file: &str) -> Vec<u8> {
    format!("javari-backup/v1:{backup_id}:{file}").into_bytes()
}

/// Receives the sealed bytes (header and frames) as they are produced.
pub trait Sink {
    fn put(&mut self, bytes: Vec<u8>) -> std::io::Result<()>;
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        self.extend_from_slice(&bytes);
        Ok(())
    }
}

/// Seals compressed bytes frame by frame into a [`Sink`].
struct Sealer<S: Sink> {
    cipher: Aes256Gcm,
    prefix: [u8; 7],
    aad: Vec<u8>,
    counter: u32,
    buf: Vec<u8>,
    sink: S,
}

impl<S: Sink> Sealer<S> {
    /// A frame buffer: room for the length prefix, then up to a segment of compressed bytes,
    /// then the tag. Sealed in place and handed to the sink as is (no copies).
    fn frame_buffer() -> Vec<u8> {
        let mut buf = Vec::with_capacity(4 + SEGMENT + TAG);
        buf.extend_from_slice(&[0u8; 4]);
        buf
    }

    fn filled(&self) -> usize {
        self.buf.len() - 4
    }

    fn seal_frame(&mut self, last: bool) -> std::io::Result<()> {
        let mut frame = std::mem::replace(&mut self.buf, Self::frame_buffer());
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &Nonce::from(nonce(&self.prefix, last, self.counter)),
                &self.aad,
                (&mut frame[4..]).into(),
            )
            .map_err(|_| std::io::Error::other("AES-GCM encryption failed"))?;
        frame.extend_from_slice(tag.as_slice());
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("file too large for one backup object"))?;
        let len = u32::try_from(frame.len() - 4).map_err(std::io::Error::other)?;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        self.sink.put(frame)
    }
}

impl<S: Sink> Write for Sealer<S> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = SEGMENT - self.filled();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.filled() == SEGMENT {
            self.seal_frame(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses and seals everything read from `input` into `sink`; returns the bytes read.
pub fn seal_stream<S: Sink>(
    key: &DataKey,
    backup_id: &str,
    file: &str,
    level: i32,
    mut input: impl std::io::Read,
    mut sink: S,
) -> std::io::Result<u64> {
    let mut prefix = [0u8; 7];
    getrandom::fill(&mut prefix).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.push(VERSION);
    header.extend_from_slice(&key.id());
    header.extend_from_slice(&prefix);
    sink.put(header)?;
    let sealer = Sealer {
        cipher: key.cipher(),
        prefix,
        aad: aad(backup_id, file),
        counter: 0,
        buf: Sealer::<S>::frame_buffer(),
        sink,
    };
    let mut encoder = zstd::stream::write::Encoder::new(sealer, level)?;
    let read = std::io::copy(&mut input, &mut encoder)?;
    let mut sealer = encoder.finish()?;
    sealer.seal_frame(true)?;
    Ok(read)
}

/// Opens a stored object incrementally: feed its bytes in any chunking with [`Opener::feed`],
/// then call [`Opener::finish`]. Plaintext (decompressed) goes to `out`.
pub struct Opener<'k, W: Write> {
    key: &'k DataKey,
    cipher: Aes256Gcm,
    file: String,
    aad: Vec<u8>,
    prefix: Option<[u8; 7]>,
    counter: u32,
    done: bool,
    pending: Vec<u8>,
    decoder: zstd::stream::write::Decoder<'static, W>,
}

impl<'k, W: Write> Opener<'k, W> {
    pub fn new(key: &'k DataKey, backup_id: &str, file: &str, out: W) -> Result<Self, FormatError> {
        let decoder = zstd::stream::write::Decoder::new(out).map_err(|e| FormatError::Io {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            key,
            cipher: key.cipher(),
            file: file.to_owned(),
            aad: aad(backup_id, file),
            prefix: None,
            counter: 0,
            done: false,
            pending: Vec::new(),
            decoder,
        })
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), FormatError> {
        self.pending.extend_from_slice(chunk);
        if self.prefix.is_none() {
            if self.pending.len() < HEADER_LEN {
                return Ok(());
            }
            let h: Vec<u8> = self.pending.drain(..HEADER_LEN).collect();
            if &h[..4] != MAGIC || h[4] != VERSION {
                return Err(FormatError::BadHeader {
                    file: self.file.clone(),
                });
            }
            if h[5..13] != self.key.id() {
                return Err(FormatError::WrongKey {
                    file: self.file.clone(),
                    expected: self.key.id_hex(),
                    found: hex::encode(&h[5..13]),
                });
            }
            let mut prefix = [0u8; 7];
            prefix.copy_from_slice(&h[13..20]);
            self.prefix = Some(prefix);
        }
        let mut at = 0;
        while self.pending.len() - at >= 4 {
            if self.done {
                return Err(FormatError::Trailing {
                    file: self.file.clone(),
                });
            }
            let len_bytes: [u8; 4] =
                self.pending[at..at + 4]
                    .try_into()
                    .map_err(|_| FormatError::Truncated {
                        file: self.file.clone(),
                    })?;
            let len = u32::from_be_bytes(len_bytes) as usize;
            if len > SEGMENT + TAG + 1024 {
                return Err(FormatError::FrameTooLarge {
                    file: self.file.clone(),
                    len,
                });
            }
            if self.pending.len() - at - 4 < len {
                break;
            }
            let ct = &self.pending[at + 4..at + 4 + len];
            let prefix = self.prefix.unwrap_or_default();
            let tampered = || FormatError::Tampered {
                file: self.file.clone(),
                frame: self.counter,
            };
            // A frame opens either as a middle frame or as the last one; the flag in the
            // nonce makes truncation after any middle frame detectable.
            let (plain, last) = match self.cipher.decrypt(
                &Nonce::from(nonce(&prefix, false, self.counter)),
                Payload {
                    msg: ct,
                    aad: &self.aad,
                },
            ) {
                Ok(p) => (p, false),
                Err(_) => (
                    self.cipher
                        .decrypt(
                            &Nonce::from(nonce(&prefix, true, self.counter)),
                            Payload {
                                msg: ct,
                                aad: &self.aad,
                            },
                        )
                        .map_err(|_| tampered())?,
                    true,
                ),
            };
            self.decoder
                .write_all(&plain)
                .map_err(|e| FormatError::Decompress {
                    file: self.file.clone(),
                    reason: e.to_string(),
                })?;
            self.counter += 1;
            self.done = last;
            at += 4 + len;
        }
        self.pending.drain(..at);
        Ok(())
    }

    /// Checks the object ended with its last frame and returns the output.
    pub fn finish(mut self) -> Result<W, FormatError> {
        if !self.done {
            return Err(FormatError::Truncated { file: self.file });
        }
        if !self.pending.is_empty() {
            return Err(FormatError::Trailing { file: self.file });
        }
        self.decoder.flush().map_err(|e| FormatError::Decompress {
            file: self.file.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.decoder.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect()
    }

    fn sealed(key: &DataKey, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal_stream(key, "b1", "3001.dat", 3, data, &mut out).expect("seal");
        out
    }

    impl Sink for &mut Vec<u8> {
        fn put(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
            self.extend_from_slice(&bytes);
            Ok(())
        }
    }

    fn open(key: &DataKey, data: &[u8], chunk: usize) -> Result<Vec<u8>, FormatError> {
        let mut o = Opener::new(key, "b1", "3001.dat", Vec::new())?;
        for c in data.chunks(chunk) {
            o.feed(c)?;
        }
        o.finish()
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let key = DataKey::generate().expect("key");
        // Incompressible data so several frames are written.
        let mut data = vec![0u8; 3 * SEGMENT + 17];
        getrandom::fill(&mut data).expect("random");
        let s = sealed(&key, &data);
        for chunk in [1usize << 16, 7, s.len()] {
            assert_eq!(open(&key, &s, chunk).expect("open"), data);
        }
        assert_eq!(open(&key, &sealed(&key, b""), 3).expect("empty"), b"");
    }

    #[test]
    fn compresses_before_encrypting() {
        let key = DataKey::generate().expect("key");
        let data = sample(4 << 20);
        let s = sealed(&key, &data);
        assert!(s.len() < data.len() / 10, "{} bytes", s.len());
    }

    #[test]
    fn a_flipped_byte_is_caught_and_named() {
        let key = DataKey::generate().expect("key");
        let data = sample(100_000);
        let s = sealed(&key, &data);
        for at in [HEADER_LEN + 6, s.len() / 2, s.len() - 1] {
            let mut bad = s.clone();
            bad[at] ^= 0x20;
            let err = open(&key, &bad, 4096).expect_err("tampered");
            assert!(err.to_string().contains("3001.dat"), "{err}");
        }
    }

    #[test]
    fn a_wrong_key_is_refused_by_name() {
        let key = DataKey::generate().expect("key");
        let other = DataKey::generate().expect("key");
        let s = sealed(&key, b"rows");
        let err = open(&other, &s, 1024).expect_err("wrong key");
        assert!(matches!(err, FormatError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains(&key.id_hex()), "{err}");
        assert!(err.to_string().contains("wrong data key"), "{err}");
    }

    #[test]
    fn truncation_and_trailing_bytes_are_caught() {
        let key = DataKey::generate().expect("key");
        let mut data = vec![0u8; 2 * SEGMENT + 5];
        getrandom::fill(&mut data).expect("random");
        let s = sealed(&key, &data);
        let first_frame_end = HEADER_LEN
            + 4
            + u32::from_be_bytes(s[HEADER_LEN..HEADER_LEN + 4].try_into().expect("len")) as usize;
        assert!(matches!(
            open(&key, &s[..first_frame_end], 1 << 16),
            Err(FormatError::Truncated { .. })
        ));
        let mut longer = s.clone();
        longer.extend_from_slice(&[0, 0, 0, 1, 9]);
        assert!(open(&key, &longer, 1 << 16).is_err());
    }

    #[test]
    fn the_debug_form_shows_the_key_id_only() {
        let key = DataKey::generate().expect("key");
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.id_hex()));
        assert!(!shown.contains(&hex::encode(key.expose())));
    }
}
