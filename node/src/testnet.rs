//! Running nodes from the command line: one node (`chatly run`) or a local test network
//! (`chatly testnet --nodes N`), with the printed lines of docs/api.md and graceful shutdown.

use std::io::Write;

use anyhow::Context;
use libp2p::Multiaddr;

use crate::config::{Config, TestnetArgs};
use crate::node::NodeHandle;

/// Runs one node until SIGINT or SIGTERM.
pub async fn run_node(config: Config) -> anyhow::Result<()> {
    if !config.http.ip().is_loopback() {
        tracing::warn!(addr = %config.http, "the web UI is reachable from other machines: anyone who can reach it can try to log in");
    }
    let node = NodeHandle::spawn(config)
        .await
        .context("the node could not start")?;
    announce(&node);
    shutdown_signal().await;
    eprintln!("Shutting down…");
    node.shutdown().await;
    Ok(())
}

/// Starts N nodes in this process, each dialing the ones before it, and runs until a signal.
pub async fn run(args: TestnetArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let (root, _temp) = match args.data_dir {
        Some(dir) => (dir, None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("chatly-testnet-")
                .tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let mut nodes: Vec<NodeHandle> = Vec::new();
    let mut addrs: Vec<Multiaddr> = Vec::new();
    for i in 0..args.nodes {
        let mut config = Config::local(root.join(format!("node{}", i + 1)));
        let port = args
            .base_port
            .checked_add(i as u16)
            .context("--base-port too high for that many nodes")?;
        config.http.set_port(port);
        config.peers = addrs.clone();
        config.name = Some(format!("node{}", i + 1));
        let mut node = NodeHandle::spawn(config)
            .await
            .with_context(|| format!("node {} could not start", i + 1))?;
        let listening = node.wait_listening().await;
        addrs.extend(listening.into_iter().take(1));
        nodes.push(node);
    }
    println!(
        "Chatly testnet: {} nodes, data in {}",
        nodes.len(),
        root.display()
    );
    for (i, node) in nodes.iter().enumerate() {
        println!(
            "node{}: Chatly UI: {}  Peer id: {}",
            i + 1,
            node.ui_url(),
            node.peer_id
        );
    }
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    eprintln!("Shutting down the testnet…");
    for node in nodes {
        node.shutdown().await;
    }
    Ok(())
}

/// Prints the start-up lines and, as they are bound, each listen address.
fn announce(node: &NodeHandle) {
    println!("Chatly UI: {}", node.ui_url());
    println!("Peer id: {}", node.peer_id);
    let _ = std::io::stdout().flush();
    let mut addrs = node.listen_addrs.clone();
    tokio::spawn(async move {
        let mut printed: Vec<Multiaddr> = Vec::new();
        loop {
            let current = addrs.borrow_and_update().clone();
            for addr in current {
                if !printed.contains(&addr) {
                    println!("Listening on: {addr}");
                    printed.push(addr);
                }
            }
            let _ = std::io::stdout().flush();
            if addrs.changed().await.is_err() {
                break;
            }
        }
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
