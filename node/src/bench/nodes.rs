//! In-process nodes for benchmarks: start one on a temporary directory, give it an account, seed
//! it with signed envelopes without going through the HTTP API, and wait for what it holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatly_protocol::sync::{SeqRange, Want};
use chatly_protocol::{AccountId, Content, EnvelopeId, Header, Kind, RoomId};
use libp2p::Multiaddr;

use crate::accounts::keys::UnlockedKeys;
use crate::rooms::pipeline::{self, Checked};
use crate::rooms::{Profile, seal};
use crate::store::{now_ms, sync as rows};
use crate::{Config, NodeHandle};

/// A running node and the directory it lives in (removed when dropped).
pub struct BenchNode {
    /// The node.
    pub handle: NodeHandle,
    _dir: tempfile::TempDir,
}

impl BenchNode {
    /// Starts a node on loopback with no LAN discovery, dialing `peers`. The per-author gossip
    /// rate limit is lifted: benchmarks measure capacity, and one author posts everything.
    pub async fn start(peers: Vec<Multiaddr>) -> anyhow::Result<BenchNode> {
        Self::start_routed(peers, true).await
    }

    /// Like [`BenchNode::start`]; `peer_routing: false` keeps the topology to the given
    /// `peers` (no Kademlia), as a bare-gossipsub baseline has it.
    pub async fn start_routed(
        peers: Vec<Multiaddr>,
        peer_routing: bool,
    ) -> anyhow::Result<BenchNode> {
        let dir = tempfile::Builder::new().prefix("chatly-bench-").tempdir()?;
        let mut config = Config::local(dir.path().to_path_buf());
        config.peers = peers;
        config.peer_routing = peer_routing;
        config.limits.author_rate_per_sec = 1e9;
        config.limits.author_burst = 1e9;
        let mut handle = NodeHandle::spawn(config).await?;
        handle.wait_listening().await;
        Ok(BenchNode { handle, _dir: dir })
    }

    /// Its first listen address.
    pub fn addr(&self) -> Multiaddr {
        self.handle.listen_addrs.borrow()[0].clone()
    }

    /// Signs up `username` and publishes its account record, as the API does.
    pub async fn account(&self, username: &str) -> anyhow::Result<Arc<UnlockedKeys>> {
        let state = &self.handle.state;
        let keys = state
            .accounts
            .sign_up(username, "benchmark password")
            .await?;
        let profile = Profile {
            username: username.into(),
            display_name: username.into(),
            bio: String::new(),
            avatar: None,
            node_addrs: Vec::new(),
        };
        state.rooms.publish_profile(&keys, &profile).await?;
        Ok(keys)
    }

    /// Signs up `username` (publishing its record) and logs in: its keys and a bearer token.
    pub async fn login(&self, username: &str) -> anyhow::Result<(Arc<UnlockedKeys>, String)> {
        let keys = self.account(username).await?;
        let login = self
            .handle
            .state
            .accounts
            .log_in(username, "benchmark password", false, "bench")
            .await?;
        Ok((keys, login.token))
    }

    /// Waits until the directory holds `n` accounts.
    pub async fn wait_users(&self, n: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let count = self
                .handle
                .state
                .store
                .read(|c| Ok(crate::store::users::all(c)?.len()))
                .await?;
            if count >= n {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "{count} of {n} accounts"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stores already checked envelopes in transactions of `batch`, as sync pages are stored.
    pub async fn store(&self, envelopes: &[Checked], batch: usize) -> anyhow::Result<()> {
        for chunk in envelopes.chunks(batch) {
            self.handle
                .state
                .rooms
                .store_checked(chunk.to_vec(), now_ms())
                .await?;
        }
        Ok(())
    }

    /// The raw bytes of `author`'s envelopes `range` in `room`.
    pub async fn envelopes(
        &self,
        room: RoomId,
        author: AccountId,
        range: SeqRange,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let want = Want {
            room,
            author,
            range,
        };
        let (page, _) = self
            .handle
            .state
            .store
            .read(move |c| rows::page(c, &[(want, false)], usize::MAX))
            .await?;
        Ok(page)
    }

    /// The highest sequence number of `author` in `room` held with no gap below it.
    pub async fn held(&self, room: RoomId, author: AccountId) -> anyhow::Result<u64> {
        let heads = self
            .handle
            .state
            .store
            .read(move |c| rows::room_heads(c, &room))
            .await?;
        Ok(heads
            .iter()
            .find(|a| a.author == author)
            .and_then(|a| a.ranges.first())
            .filter(|r| r.lo == 1)
            .map_or(0, |r| r.hi))
    }

    /// Waits until it holds `author`'s first `n` envelopes in `room`; returns how long that took.
    pub async fn wait_held(
        &self,
        room: RoomId,
        author: AccountId,
        n: u64,
        bound: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if self.held(room, author).await? >= n {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < bound,
                "gave up after {bound:?}: {} of {n} held",
                self.held(room, author).await?
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the node.
    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}

/// Starts `n` nodes, each dialing all before it, and waits until each sees the others.
pub async fn mesh(n: usize) -> anyhow::Result<Vec<BenchNode>> {
    let mut nodes: Vec<BenchNode> = Vec::new();
    for _ in 0..n {
        let peers = nodes.iter().map(BenchNode::addr).collect();
        nodes.push(BenchNode::start(peers).await?);
    }
    let started = Instant::now();
    for node in &nodes {
        while node.handle.state.net.peers().await?.len() < n - 1 {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the mesh did not form"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(nodes)
}

/// `n` public messages by `keys`, signed and chained from seq 1, each checked by the pipeline.
pub async fn public_messages(keys: Arc<UnlockedKeys>, n: usize) -> anyhow::Result<Vec<Checked>> {
    tokio::task::spawn_blocking(move || {
        let author = keys.account_id();
        let now = now_ms();
        let mut prev = EnvelopeId::ZERO;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let body = Content::Message {
                text: format!("benchmark message {i}: about the length of a line of chat"),
                files: Vec::new(),
                reply_to: None,
            }
            .encode()?;
            let header = Header::plain(
                Kind::Content,
                RoomId::PUBLIC,
                author,
                i as u64 + 1,
                prev,
                now,
            );
            let verified = seal::seal(&keys.identity, header, body)
                .map_err(|e| anyhow::anyhow!("seal: {e:?}"))?;
            prev = verified.id;
            let checked = pipeline::check(verified.bytes, now, None)
                .map_err(|e| anyhow::anyhow!("check: {e:?}"))?;
            out.push(checked);
        }
        Ok(out)
    })
    .await?
}

/// Validates raw envelopes exactly as sync does (signature and structure, on every core).
pub async fn check_all(envelopes: Vec<Vec<u8>>) -> anyhow::Result<Vec<Checked>> {
    crate::rooms::sync::check_in_parallel(envelopes, now_ms())
        .await
        .into_iter()
        .map(|c| c.map_err(|e| anyhow::anyhow!("check: {e:?}")))
        .collect()
}
