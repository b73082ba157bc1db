//! The manifest: written last, so its presence is what makes a backup complete.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Name of the manifest object inside a backup's prefix.
pub const MANIFEST: &str = "manifest.json";
/// Directory of the dump files inside a backup's prefix.
pub const FILES: &str = "files";

/// One dump file as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    /// File name inside the pg_dump directory (`toc.dat`, `3456.dat`, …).
    pub name: String,
    /// Size before compression and encryption.
    pub original_bytes: u64,
    /// Size of the stored object.
    pub stored_bytes: u64,
    /// SHA-256 (hex) of the stored object.
    pub sha256: String,
}

/// The data key sealed by the vault's master key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SealedKey {
    /// Master key id (the vault's fingerprint).
    pub master_key_id: String,
    /// Hex of the 12-byte nonce.
    pub nonce: String,
    /// Hex of the ciphertext with tag.
    pub ciphertext: String,
    /// Fingerprint of the data key (also in every object's header).
    pub data_key_id: String,
}

/// Everything needed to check and restore a backup without the database it came from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub backup_id: Uuid,
    /// `namespace/name` of the BackupPolicy.
    pub policy: String,
    pub database: String,
    pub snapshot_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub server_version: String,
    pub pg_dump_version: String,
    pub javari_version: String,
    pub compression: String,
    pub schema_hash: String,
    /// Rows of every table (`schema.table`) in the dump's snapshot.
    pub row_counts: BTreeMap<String, i64>,
    pub files: Vec<ManifestFile>,
    pub key: SealedKey,
}

impl Manifest {
    pub fn original_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.original_bytes).sum()
    }

    pub fn stored_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.stored_bytes).sum()
    }
}
