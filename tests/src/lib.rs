//! The multi-node test harness: real nodes in-process (temp dirs, port 0), an HTTP client per
//! node, a WebSocket event client, and `wait_for` instead of sleeps.
//!
//! - [`TestNode`]: one node, restartable on the same data dir.
//! - [`Client`]: the HTTP API as a logged-in (or anonymous) client.
//! - [`Events`]: the live event WebSocket.
//! - [`wait_for`]: poll a condition until it holds or a generous bound passes.
//! - [`netns`]: network namespaces joined by a bridge, for LAN tests (root only).

mod client;
mod events;
mod logs;
pub mod nat;
pub mod netns;
pub mod process;
pub mod rawpeer;
pub mod relayflood;

pub use client::Client;
pub use events::Events;
pub use logs::LogCapture;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chatly::{Config, NodeHandle};
use libp2p::Multiaddr;
use serde_json::json;

/// Bound for things that normally take milliseconds: only there to catch hangs.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node running in this process.
pub struct TestNode {
    /// The running node (None while stopped).
    pub handle: Option<NodeHandle>,
    /// Its data directory (kept across restarts).
    pub dir: PathBuf,
    /// Addresses it dials at start.
    pub peers: Vec<Multiaddr>,
    /// Changes to the default test config, applied at every (re)start.
    pub tweak: fn(&mut Config),
    _temp: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node in a new temporary directory, dialing `peers`.
    pub async fn start(peers: Vec<Multiaddr>) -> Result<TestNode> {
        Self::start_with(peers, |_| {}).await
    }

    /// Starts a node whose config `tweak` adjusts (at every restart too).
    pub async fn start_with(peers: Vec<Multiaddr>, tweak: fn(&mut Config)) -> Result<TestNode> {
        let temp = tempfile::Builder::new().prefix("chatly-test-").tempdir()?;
        let dir = temp.path().to_path_buf();
        let mut node = TestNode {
            handle: None,
            dir,
            peers,
            tweak,
            _temp: Some(temp),
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts a node whose data lives in `dir` (kept after the node is dropped).
    pub async fn start_in(dir: PathBuf, peers: Vec<Multiaddr>) -> Result<TestNode> {
        let mut node = TestNode {
            handle: None,
            dir,
            peers,
            tweak: |_| {},
            _temp: None,
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts (or starts again) the node on its data dir.
    pub async fn restart(&mut self) -> Result<()> {
        anyhow::ensure!(self.handle.is_none(), "the node is running");
        let mut config = Config::local(self.dir.clone());
        config.peers = self.peers.clone();
        (self.tweak)(&mut config);
        let mut handle = NodeHandle::spawn(config).await.context("node start")?;
        handle.wait_listening().await;
        self.handle = Some(handle);
        Ok(())
    }

    /// Stops the node gracefully, keeping its data dir; returns once its store is closed.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }

    fn running(&self) -> &NodeHandle {
        self.handle.as_ref().expect("the node is stopped")
    }

    /// Its first listen address (with `/p2p/<peer id>`).
    pub fn addr(&self) -> Multiaddr {
        self.running()
            .listen_addrs
            .borrow()
            .first()
            .cloned()
            .expect("listening")
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// An anonymous API client.
    pub fn client(&self) -> Client {
        Client::new(format!("http://{}", self.running().http_addr), None)
    }

    /// The bytes of envelope `id` (hex) as this node stores them, to replay through a raw peer.
    pub async fn envelope_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let id = chatly_protocol::EnvelopeId::from_hex(id)?;
        let bytes = self
            .running()
            .state
            .store
            .read(move |c| chatly::store::envelopes::bytes(c, &id.0))
            .await?;
        bytes.ok_or_else(|| anyhow::anyhow!("envelope {} not held", id.to_hex()))
    }

    /// Signs up and logs in; returns the logged-in client.
    pub async fn account(&self, username: &str, password: &str) -> Result<Client> {
        let client = self.client();
        let (status, body) = client
            .post(
                "/api/v1/accounts",
                json!({"username": username, "password": password}),
            )
            .await?;
        anyhow::ensure!(status == 201, "sign up {username}: {status} {body}");
        client.log_in(username, password).await
    }
}

/// Starts `n` nodes, each dialing the ones before it, and waits until each sees the others.
pub async fn mesh(n: usize) -> Result<Vec<TestNode>> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..n {
        let peers = nodes.iter().map(TestNode::addr).collect();
        nodes.push(TestNode::start(peers).await?);
    }
    for node in &nodes {
        let net = node.running().state.net.clone();
        wait_for("the mesh to connect", PATIENCE, || {
            let net = net.clone();
            async move { (net.peers().await.ok()?.len() >= n - 1).then_some(()) }
        })
        .await?;
    }
    Ok(nodes)
}

/// Does any file under `dir` contain `needle`?
pub fn dir_contains(dir: &Path, needle: &[u8]) -> Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if dir_contains(&path, needle)? {
                return Ok(true);
            }
        } else if std::fs::read(&path)?
            .windows(needle.len())
            .any(|w| w == needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Bound for catching up large backlogs: only there to catch hangs.
pub const CATCH_UP: Duration = Duration::from_secs(60);

/// The people most multi-node tests start with: alice, bob and carol, one on each of the first
/// three nodes, once every node knows all three.
pub async fn alice_bob_carol(nodes: &[TestNode]) -> Result<(Client, Client, Client)> {
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[2].account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        client.wait_users(3, PATIENCE).await?;
    }
    Ok((alice, bob, carol))
}
