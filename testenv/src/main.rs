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

/// Setup failures end in one line that says what went wrong and what to do, never a
/// backtrace: `make test` and `make run` show it as is.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("javari-testenv: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("javari-testenv: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, with what to do for the usual permission problem.
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(ToString::to_string) {
        // thiserror messages often carry their source already.
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let denied = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            || c.downcast_ref::<javari_testenv::Error>().is_some_and(|t| {
                matches!(t, javari_testenv::Error::Io { source, .. } | javari_testenv::Error::Spawn { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied)
            })
    }) || text.contains("Permission denied");
    if denied {
        format!(
            "{text} — run it as a user who owns the checkout, or give the `postgres` user access \
             (chmod o+x on each folder above the checkout)"
        )
    } else {
        text
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::PgUp { dir, port } => {
            let pg = PgCluster::ensure(&dir, port)?;
            // The binaries' runtime role (tests and `make run` connect as it).
            javari_testenv::runtime_url(&pg.url("postgres")).await?;
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
