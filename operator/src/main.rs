//! `javari-operator`: see the library (`lib.rs`) for what it runs.

use std::process::ExitCode;

use clap::Parser;
use javari_operator::config::{Cli, Command};
use tracing::error;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    javari_core::telemetry::init(cli.config.log_format, &cli.config.log);
    let result = match cli.command {
        None => javari_operator::run(cli.config).await,
        Some(Command::Rewrap { batch_size }) => {
            javari_operator::preflight::rewrap(&cli.config, batch_size).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "javari-operator stopped");
            eprintln!("javari-operator: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
