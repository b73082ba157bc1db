//! Start-up checks: the master key is given and matches the vault, the cluster is reachable,
//! the Javari CRDs are installed and served, and the shared schema is migrated. Each failure
//! says what to do about it, and none changes anything in the vault.

use std::net::SocketAddr;
use std::sync::Arc;

use javari_core::vault::{Keyring, Vault};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::{Client, CustomResourceExt};
use tracing::info;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot reach the Kubernetes API (set KUBECONFIG or run in a cluster): {0}")]
    Kube(#[source] kube::Error),
    #[error(
        "the Javari CRDs are not installed: {missing} missing. Install them with \
         `kubectl apply -f charts/javari/crds/` or `helm install javari charts/javari`"
    )]
    CrdsMissing { missing: String },
    #[error("CRD {name} does not serve {version}; upgrade the CRDs from charts/javari/crds/")]
    VersionNotServed { name: String, version: &'static str },
    #[error("cannot list {kind} (check the operator's RBAC): {source}")]
    List {
        kind: &'static str,
        source: kube::Error,
    },
    #[error(transparent)]
    Database(#[from] javari_core::db::DbError),
    #[error(transparent)]
    MasterKey(#[from] javari_core::vault::KeyError),
    #[error(transparent)]
    Vault(#[from] javari_core::vault::VaultError),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(String),
    #[error("HTTP server failed: {0}")]
    Server(String),
    #[error("lost the leader Lease to another replica; restarting as a standby")]
    LostLeadership,
}

impl Error {
    /// 2 for a missing or unusable API, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::CrdsMissing { .. } | Error::VersionNotServed { .. } => 2,
            Error::MasterKey(_)
            | Error::Vault(javari_core::vault::VaultError::KeyMismatch { .. }) => 3,
            _ => 1,
        }
    }
}

/// What the checks produced, ready for the controllers.
pub struct Checked {
    pub client: Client,
    pub vault: Vault,
}

pub async fn run(config: &Config) -> Result<Checked, Error> {
    let keys = keyring(config)?;
    let client = Client::try_default().await.map_err(Error::Kube)?;
    check_crds(&client).await?;
    check_kinds_listable(&client).await?;
    let pool = javari_core::db::open(
        &config.database_url,
        config.migrate_database_url.as_deref(),
        config.db_max_connections,
    )
    .await?;
    info!("shared schema migrated");
    let vault = Vault::new(pool, Arc::new(keys));
    vault.verify_keys().await?;
    info!(
        key_id = vault.keys().current().id(),
        "vault master key verified"
    );
    Ok(Checked { client, vault })
}

fn keyring(config: &Config) -> Result<Keyring, Error> {
    Ok(Keyring::from_config(
        config.master_key.as_deref(),
        config.master_keys_old.as_deref(),
    )?)
}

/// `javari-operator rewrap`: re-encrypts the vault under the current master key.
pub async fn rewrap(config: &Config, batch_size: i64) -> Result<(), Error> {
    let keys = keyring(config)?;
    let pool = javari_core::db::open(
        &config.database_url,
        config.migrate_database_url.as_deref(),
        config.db_max_connections,
    )
    .await?;
    let report = javari_core::vault::rewrap(&pool, &keys, batch_size, "cli:rewrap").await?;
    println!(
        "rewrapped {} versions and {} credentials under key {} in {} batches",
        report.versions,
        report.credentials,
        keys.current().id(),
        report.batches
    );
    Ok(())
}

async fn check_crds(client: &Client) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let wanted = javari_crds::all_crds();
    let mut missing = Vec::new();
    for crd in &wanted {
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.get_opt(&name).await.map_err(Error::Kube)? {
            None => missing.push(name),
            Some(installed) => {
                let served = installed
                    .spec
                    .versions
                    .iter()
                    .any(|v| v.name == javari_crds::VERSION && v.served);
                if !served {
                    return Err(Error::VersionNotServed {
                        name,
                        version: javari_crds::VERSION,
                    });
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::CrdsMissing {
            missing: missing.join(", "),
        });
    }
    Ok(())
}

async fn check_kinds_listable(client: &Client) -> Result<(), Error> {
    let one = ListParams::default().limit(1);
    macro_rules! list {
        ($kind:ty) => {
            Api::<$kind>::all(client.clone())
                .list_metadata(&one)
                .await
                .map_err(|source| Error::List {
                    kind: <$kind>::crd_name(),
                    source,
                })?;
        };
    }
    list!(javari_crds::Project);
    list!(javari_crds::Provider);
    list!(javari_crds::Monitor);
    list!(javari_crds::Credential);
    Ok(())
}
