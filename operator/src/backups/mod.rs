//! The BackupPolicy controller. A reconcile resolves the policy (source database, destination
//! and its keys), decides what is due (the `backup-now` or `verify-now` annotation, an
//! `immediate` first backup, the backup or drill cron), records the request in status, and
//! hands the work to the [`Runner`], which runs it in-process under a concurrency limit (the
//! leader runs controllers; no Job pods). A policy whose newest verified backup is older than
//! `staleAfter` opens an incident, like a Monitor.

mod job;
mod reconcile;
mod resolve;

use std::path::PathBuf;
use std::sync::Arc;

use javari_crds::BackupPolicy;

pub use job::{Runner, Work};
pub use reconcile::{FINALIZER, Policies};

use crate::Context;
use crate::driver::Failure;

/// Operator-wide backup settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Directory of the default (`file://`) destination.
    pub dir: PathBuf,
    /// Where dumps and restores are staged.
    pub staging_dir: PathBuf,
    /// The platform's own database, backed up when a policy names no database.
    pub database_url: Option<String>,
    /// Backups and drills run at once.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir().join("javari-backups"),
            staging_dir: std::env::temp_dir(),
            database_url: None,
            concurrency: 1,
        }
    }
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let dir = if config.backup_dir.is_absolute() {
            config.backup_dir.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(&config.backup_dir))
                .unwrap_or_else(|_| config.backup_dir.clone())
        };
        Self {
            dir,
            staging_dir: std::env::temp_dir(),
            database_url: Some(config.database_url.clone()),
            concurrency: config.backup_concurrency as usize,
        }
    }
}

/// Why a BackupPolicy could not be reconciled; `reason()` names the Event and the
/// conditions, the message starts with the spec field at fault. (A failed backup or drill is
/// not a reconcile error: the runner reports it when the work ends.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{field}: {message}")]
    ScheduleInvalid {
        field: &'static str,
        message: String,
    },
    #[error("{field}: {message}")]
    SourceUnavailable {
        field: &'static str,
        message: String,
    },
    #[error("{field}: {message}")]
    DestinationInvalid {
        field: &'static str,
        message: String,
    },
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Db(_) => "DatabaseError",
            Error::ScheduleInvalid { .. } => "ScheduleInvalid",
            Error::SourceUnavailable { .. } => "SourceUnavailable",
            Error::DestinationInvalid { .. } => "DestinationInvalid",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let runner = Arc::new(Runner::new(ctx.backups.concurrency));
    let controller = crate::driver::controller(
        ctx.watched_api::<BackupPolicy>(),
        &ctx,
        crate::driver::Wake::OnEveryWrite,
    );
    crate::driver::run(controller, Arc::new(Policies { ctx, runner }), shutdown).await;
}
