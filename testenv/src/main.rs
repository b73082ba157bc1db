//! `javari-testenv`: stands up the local parts for `make test` and `make run`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use javari_testenv::{ControlPlane, FakeProvider, PgCluster, install_crds};

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
    /// Serve the fake OpenAI/Anthropic/Gemini APIs on LISTEN until interrupted (no key needed
    /// when --api-key is empty): something to chat with where the real APIs are out of reach.
    FakeProvider {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "")]
        api_key: String,
        /// Pause between streamed tokens, in milliseconds.
        #[arg(long, default_value_t = 60)]
        token_delay_ms: u64,
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
        Cmd::FakeProvider {
            listen,
            api_key,
            token_delay_ms,
        } => {
            let fake = FakeProvider::start_at(listen, &api_key).await?;
            fake.set_token_delay(std::time::Duration::from_millis(token_delay_ms));
            fake.set_reply(
                "This answer comes from the local fake provider that `make run` starts, \
                 because the real AI APIs are not reachable from here."
                    .split_inclusive(' ')
                    .map(str::to_owned)
                    .collect(),
            );
            println!("fake AI provider on {}", fake.url());
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
