//! The `chatly` binary: parse the command line, set up logging, run.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use chatly::config::{Cli, Command, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Benchmarks print figures, not the nodes' chatter.
    let default_filter = match cli.command {
        Some(Command::Bench(_)) => "error",
        _ => "chatly=info,warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::Testnet(args)) => chatly::testnet::run(args).await,
        Some(Command::Bench(args)) => chatly::bench::run(args).await,
        Some(Command::Run(args)) => chatly::testnet::run_node(Config::from_run_args(args)).await,
        None => chatly::testnet::run_node(Config::from_run_args(cli.run)).await,
    }
}
