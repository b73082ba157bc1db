//! AES-256-GCM sealing. Each ciphertext gets a fresh random 96-bit nonce and is bound by
//! associated data to its credential id and version, so a ciphertext copied to another row
//! or version does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use uuid::Uuid;

use super::{Keyring, MasterKey, SecretValue, VaultError};

/// A sealed value as stored: ciphertext with the 16-byte tag appended, nonce, key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: [u8; 12],
    pub key_id: String,
}

fn aad(credential_id: Uuid, version: i32) -> Vec<u8> {
    format!("javari.ai/credential/v1:{credential_id}:{version}").into_bytes()
}

fn cipher(key: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.bytes()))
}

/// Encrypts `plaintext` for version `version` of credential `credential_id`.
pub fn seal(
    key: &MasterKey,
    credential_id: Uuid,
    version: i32,
    plaintext: &SecretValue,
) -> Result<Sealed, VaultError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| VaultError::Seal(e.to_string()))?;
    let aad = aad(credential_id, version);
    let ciphertext = cipher(key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext.expose(),
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Seal("AES-GCM encryption failed".to_owned()))?;
    Ok(Sealed {
        ciphertext,
        nonce,
        key_id: key.id().to_owned(),
    })
}

/// Decrypts a sealed value; `name` only labels errors.
pub fn open(
    keys: &Keyring,
    name: &str,
    credential_id: Uuid,
    version: i32,
    sealed: &Sealed,
) -> Result<SecretValue, VaultError> {
    let key = keys
        .find(&sealed.key_id)
        .ok_or_else(|| VaultError::UnknownKey {
            credential: name.to_owned(),
            version,
            key_id: sealed.key_id.clone(),
        })?;
    let aad = aad(credential_id, version);
    cipher(key)
        .decrypt(
            &Nonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map(SecretValue::new)
        .map_err(|_| VaultError::Decrypt {
            credential: name.to_owned(),
            version,
        })
}

/// Seals a value that is not a credential (a user's TOTP secret, …) under the current master
/// key; `context` is bound as associated data (name the table, row and purpose) so the
/// ciphertext opens only for the same context.
pub fn seal_for(
    key: &MasterKey,
    context: &str,
    plaintext: &SecretValue,
) -> Result<Sealed, VaultError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| VaultError::Seal(e.to_string()))?;
    let ciphertext = cipher(key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext.expose(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Seal("AES-GCM encryption failed".to_owned()))?;
    Ok(Sealed {
        ciphertext,
        nonce,
        key_id: key.id().to_owned(),
    })
}

/// Opens what [`seal_for`] sealed for `context`.
pub fn open_for(keys: &Keyring, context: &str, sealed: &Sealed) -> Result<SecretValue, VaultError> {
    let key = keys
        .find(&sealed.key_id)
        .ok_or_else(|| VaultError::UnknownKey {
            credential: context.to_owned(),
            version: 0,
            key_id: sealed.key_id.clone(),
        })?;
    cipher(key)
        .decrypt(
            &Nonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map(SecretValue::new)
        .map_err(|_| VaultError::Decrypt {
            credential: context.to_owned(),
            version: 0,
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn value() -> SecretValue {
        SecretValue::from("sk-proj-0123456789abcdef".to_owned())
    }

    #[test]
    fn round_trip() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let id = Uuid::new_v4();
        let sealed = seal(ring.current(), id, 3, &value()).expect("seal");
        assert_eq!(sealed.ciphertext.len(), value().len() + 16, "tag appended");
        assert!(
            !sealed.ciphertext.windows(8).any(|w| w == b"sk-proj-"),
            "no plaintext in the ciphertext"
        );
        assert_eq!(open(&ring, "c", id, 3, &sealed).expect("open"), value());
    }

    #[test]
    fn wrong_key_fails() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let id = Uuid::new_v4();
        let mut sealed = seal(ring.current(), id, 1, &value()).expect("seal");
        let other = Keyring::new(MasterKey::generate(), vec![]);
        assert!(matches!(
            open(&other, "c", id, 1, &sealed),
            Err(VaultError::UnknownKey { .. })
        ));
        // Same key id but different key material: authentication fails.
        sealed.key_id = other.current().id().to_owned();
        assert!(matches!(
            open(&other, "c", id, 1, &sealed),
            Err(VaultError::Decrypt { .. })
        ));
    }

    #[test]
    fn wrong_aad_fails() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let id = Uuid::new_v4();
        let sealed = seal(ring.current(), id, 1, &value()).expect("seal");
        let moved = open(&ring, "c", Uuid::new_v4(), 1, &sealed);
        assert!(
            matches!(moved, Err(VaultError::Decrypt { .. })),
            "another credential's row"
        );
        let other_version = open(&ring, "c", id, 2, &sealed);
        assert!(
            matches!(other_version, Err(VaultError::Decrypt { .. })),
            "another version"
        );
    }

    #[test]
    fn tampered_tag_or_body_fails_and_names_the_credential() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let id = Uuid::new_v4();
        let sealed = seal(ring.current(), id, 1, &value()).expect("seal");
        for i in [0, sealed.ciphertext.len() - 1] {
            let mut tampered = sealed.clone();
            tampered.ciphertext[i] ^= 0x01;
            let err = open(&ring, "default/github-token", id, 1, &tampered).expect_err("tampered");
            assert!(err.to_string().contains("default/github-token"), "{err}");
        }
        let mut nonce = sealed.clone();
        nonce.nonce[0] ^= 1;
        assert!(open(&ring, "c", id, 1, &nonce).is_err());
    }

    #[test]
    fn nonces_are_unique_over_100k_encryptions() {
        let key = MasterKey::generate();
        let id = Uuid::new_v4();
        let v = SecretValue::new(vec![7; 16]);
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let sealed = seal(&key, id, 1, &v).expect("seal");
            assert!(seen.insert(sealed.nonce), "nonce repeated");
        }
    }

    #[test]
    fn sealed_for_a_context_opens_only_for_it() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let sealed = seal_for(ring.current(), "totp:user-a", &value()).expect("seal");
        assert_eq!(
            open_for(&ring, "totp:user-a", &sealed).expect("open"),
            value()
        );
        assert!(
            open_for(&ring, "totp:user-b", &sealed).is_err(),
            "another user's row"
        );
    }
}
