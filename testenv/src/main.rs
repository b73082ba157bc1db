//! `javari-testenv`: stands up the local parts for `make test` and `make run`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use javari_testenv::{ControlPlane, PgCluster, install_crds};

#[derive(Parser)]
#[command(about = "Local PostgreSQL and Kubernetes control plane for Javari")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start (creating if needed) a PostgreSQL cluster in DIR on PORT; prints its URL. Idempotent.
    PgUp { dir: PathBuf, port: u16 },
    /// Stop the PostgreSQL cluster in DIR.
    PgDown { dir: PathBuf, port: u16 },
    /// Run etcd + kube-apiserver with the Javari CRDs until interrupted; writes a kubeconfig.
    ControlPlane {
        /// Where to write the kubeconfig.
        #[arg(long)]
        kubeconfig: PathBuf,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::PgUp { dir, port } => {
            let pg = PgCluster::ensure(&dir, port)?;
            println!("{}", pg.url("postgres"));
        }
        Cmd::PgDown { dir, port } => {
            let pg = PgCluster::open(&dir, port)?;
            if pg.is_running() {
                pg.stop()?;
            }
        }
        Cmd::ControlPlane { kubeconfig } => {
            let cp = ControlPlane::start().await?;
            install_crds(&cp.client().await?).await?;
            std::fs::copy(cp.kubeconfig(), &kubeconfig)?;
            println!(
                "kube-apiserver ready at {}; kubeconfig: {}",
                cp.server(),
                kubeconfig.display()
            );
            tokio::signal::ctrl_c().await?;
            cp.stop();
        }
    }
    Ok(())
}
