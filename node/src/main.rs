//! The `chatly` binary: parse the command line, set up logging, run.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use chatly::config::{Cli, Command, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("chatly=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Testnet(args)) => chatly::testnet::run(args).await,
        Some(Command::Run(args)) => chatly::testnet::run_node(Config::from_run_args(args)).await,
        None => chatly::testnet::run_node(Config::from_run_args(cli.run)).await,
    }
}
