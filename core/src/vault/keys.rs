//! Master keys: 32 bytes given as hex or base64, identified by a fingerprint so the vault
//! knows which key sealed each row without storing anything secret.

use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "{var} is not set: generate one with `openssl rand -hex 32` and keep it safe; without it nothing in the vault can be read"
    )]
    Missing { var: &'static str },
    #[error(
        "{var} must be 32 bytes as 64 hex characters or base64 (got {len} characters that decode to neither)"
    )]
    Malformed { var: &'static str, len: usize },
}

/// One AES-256 key and its id.
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// Parses 64 hex characters or base64 of 32 bytes; surrounding whitespace is ignored.
    pub fn parse(var: &'static str, text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            hex::decode(text)
                .ok()
                .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .unwrap_or_default(),
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Malformed {
                var,
                len: text.len(),
            })?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"javari-master-key-id:")
            .chain_update(bytes)
            .finalize();
        Self {
            id: hex::encode(&digest[..8]),
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key (for `make run`'s local default and tests).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self::from_bytes(bytes)
    }

    /// Fingerprint stored beside each ciphertext (16 hex characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key as hex, for writing a generated key to a private file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.bytes))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id={})", self.id)
    }
}

/// The current key (seals everything new) and retired keys (open old rows until `rewrap`).
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    old: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey, old: Vec<MasterKey>) -> Self {
        Self { current, old }
    }

    /// From `JAVARI_MASTER_KEY` and the comma-separated `JAVARI_MASTER_KEYS_OLD` values.
    pub fn from_config(current: Option<&str>, old: Option<&str>) -> Result<Self, KeyError> {
        let current = match current.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => MasterKey::parse("JAVARI_MASTER_KEY", text)?,
            None => {
                return Err(KeyError::Missing {
                    var: "JAVARI_MASTER_KEY",
                });
            }
        };
        let old = old
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| MasterKey::parse("JAVARI_MASTER_KEYS_OLD", s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(current, old))
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
    }

    pub fn old_ids(&self) -> Vec<&str> {
        self.old.iter().map(|k| k.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_hex_and_base64_to_the_same_key() {
        let from_hex = MasterKey::parse("K", HEX).expect("hex");
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(HEX).expect("hex"));
        let from_b64 = MasterKey::parse("K", &format!(" {b64}\n")).expect("base64");
        assert_eq!(from_hex.id(), from_b64.id());
        assert_eq!(from_hex.id().len(), 16);
    }

    #[test]
    fn refuses_missing_and_malformed_keys_without_echoing_them() {
        assert_eq!(
            Keyring::from_config(None, None).err(),
            Some(KeyError::Missing {
                var: "JAVARI_MASTER_KEY"
            })
        );
        let err = Keyring::from_config(Some("not-a-key-abc123"), None).expect_err("malformed");
        assert!(matches!(err, KeyError::Malformed { .. }));
        assert!(!err.to_string().contains("abc123"));
        let short = &HEX[..62];
        assert!(MasterKey::parse("K", short).is_err());
    }

    #[test]
    fn keyring_finds_current_and_old_keys() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        let (a_id, b_id) = (a.id().to_owned(), b.id().to_owned());
        assert_ne!(a_id, b_id);
        let ring = Keyring::new(b, vec![a]);
        assert_eq!(ring.current().id(), b_id);
        assert!(ring.find(&a_id).is_some());
        assert!(ring.find("0000000000000000").is_none());
        assert!(!format!("{ring:?}").contains(&*ring.current().to_hex()));
    }
}
