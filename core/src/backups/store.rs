//! Object stores by URL: `file:///dir` (the default) or `s3://bucket/prefix` with an
//! endpoint for S3-compatible servers, through the `object_store` crate.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::BackupError;

/// Access keys of an S3-compatible store (from a Credential or a Secret). Never printed.
#[derive(Clone)]
pub struct S3Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Keys(..)")
    }
}

/// Where a policy's backups go.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `file:///absolute/dir` or `s3://bucket[/prefix]`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub keys: Option<S3Keys>,
}

/// An opened store and the prefix under which everything of this destination lives.
#[derive(Clone, Debug)]
pub struct Destination {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    pub url: String,
    local_root: Option<std::path::PathBuf>,
}

impl Destination {
    pub fn open(cfg: &StoreConfig) -> Result<Self, BackupError> {
        let bad = |reason: String| BackupError::Destination {
            url: cfg.url.clone(),
            reason,
        };
        if let Some(dir) = cfg.url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
            let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(e.to_string()))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
                url: cfg.url.clone(),
                local_root: Some(std::path::PathBuf::from(dir)),
            });
        }
        let rest = cfg
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("expected file:///dir or s3://bucket/prefix".to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let keys = cfg
            .keys
            .as_ref()
            .ok_or_else(|| bad("an s3:// destination needs access keys".to_owned()))?;
        crate::http::install_crypto_provider();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(cfg.region.clone().unwrap_or_else(|| "us-east-1".to_owned()))
            .with_access_key_id(&keys.access_key_id)
            .with_secret_access_key(&keys.secret_access_key);
        if let Some(endpoint) = &cfg.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = b.build().map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            url: cfg.url.clone(),
            local_root: None,
        })
    }

    /// The directory of a `file://` destination.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// `prefix/parts…`
    pub fn path(&self, parts: &[&str]) -> Path {
        let mut p = self.prefix.clone();
        for part in parts {
            p = p.clone().join(*part);
        }
        p
    }
}
