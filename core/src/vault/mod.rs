//! The credential vault: values sealed with AES-256-GCM under a master key, stored in
//! PostgreSQL with every version kept as a snapshot, and every access audited.
//!
//! Plaintext only ever lives in [`SecretValue`], which zeroizes itself and never prints.

mod audit;
mod cipher;
mod keys;
mod rewrap;
mod secret;
mod store;

pub use audit::{AuditAction, AuditEntry, recent_audit};
pub use cipher::{Sealed, open, open_for, seal, seal_for};
pub use keys::{KeyError, Keyring, MasterKey};
pub use rewrap::{RewrapReport, rewrap};
pub use secret::SecretValue;
pub use store::{Actor, NewCredential, StoredCredential, Vault};

/// Errors of the vault. None carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "cannot decrypt credential {credential} version {version}: the ciphertext was tampered with, moved, or sealed under another key"
    )]
    Decrypt { credential: String, version: i32 },
    #[error(
        "credential {credential} version {version} was sealed with master key {key_id}, which is not configured"
    )]
    UnknownKey {
        credential: String,
        version: i32,
        key_id: String,
    },
    #[error("credential {credential} has no version {version} in the vault")]
    MissingVersion { credential: String, version: i32 },
    #[error(
        "credential {credential} changed concurrently (expected version {expected}, found {found})"
    )]
    Conflict {
        credential: String,
        expected: i32,
        found: i32,
    },
    #[error(
        "master key mismatch: the vault holds values sealed with key id(s) {unknown}, but JAVARI_MASTER_KEY has id {current}{old}; \
         start with the key these were sealed with (list retired keys in JAVARI_MASTER_KEYS_OLD)"
    )]
    KeyMismatch {
        unknown: String,
        current: String,
        old: String,
    },
    #[error("could not seal a value: {0}")]
    Seal(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}
