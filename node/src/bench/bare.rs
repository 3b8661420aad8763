//! The same-run baseline for latency and throughput: Chatly's own network layer (`net::spawn`:
//! the same transport, Noise, Yamux and gossipsub settings and event loop) with nothing on top:
//! no envelope, signature, encryption, storage, HTTP or WebSocket. Payloads are 200 bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::gossipsub::MessageAcceptance;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::net::{self, NetConfig, NetEvent, Topic};

/// Payload size of a bare message.
pub const PAYLOAD: usize = 200;

/// Received payloads and when they arrived.
pub type Arrivals = mpsc::UnboundedReceiver<(Vec<u8>, Instant)>;

/// A bare gossipsub node in this process.
pub struct BareNode {
    /// Its network handle.
    pub handle: net::Handle,
    /// Its first listen address.
    pub addr: Multiaddr,
    /// Payloads received, with when.
    pub received: Arc<Mutex<Arrivals>>,
    shutdown: CancellationToken,
}

impl BareNode {
    /// Starts one on loopback, dialing `peers`.
    pub async fn start(peers: Vec<Multiaddr>) -> anyhow::Result<BareNode> {
        let shutdown = CancellationToken::new();
        let config = NetConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
            static_peers: peers,
            mdns: false,
            name: None,
            heartbeat: Duration::from_millis(500),
            relay_server: false,
            external_addrs: Vec::new(),
            peer_routing: false,
        };
        let mut registry = prometheus_client::registry::Registry::default();
        let mut network = net::spawn(
            libp2p::identity::Keypair::generate_ed25519(),
            config,
            &mut registry,
            shutdown.clone(),
        )
        .await?;
        let addr = network
            .listen_addrs
            .wait_for(|a| !a.is_empty())
            .await?
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("not listening"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = network.handle.clone();
        tokio::spawn(async move {
            while let Some(event) = network.events.recv().await {
                if let NetEvent::Gossip {
                    source, id, data, ..
                } = event
                {
                    let at = Instant::now();
                    handle.report(id, source, MessageAcceptance::Accept);
                    let _ = tx.send((data, at));
                }
            }
        });
        Ok(BareNode {
            handle: network.handle,
            addr,
            received: Arc::new(Mutex::new(rx)),
            shutdown,
        })
    }

    /// Publishes `seq` as a 200-byte payload on the public topic.
    pub async fn publish(&self, run: u32, seq: u32) -> anyhow::Result<()> {
        self.handle
            .publish(Topic::Public, payload(run, seq))
            .await
            .map_err(anyhow::Error::from)
    }

    /// Stops it.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

/// A unique 200-byte payload: run and sequence number first.
pub fn payload(run: u32, seq: u32) -> Vec<u8> {
    let mut bytes = vec![0x42u8; PAYLOAD];
    bytes[..4].copy_from_slice(&run.to_be_bytes());
    bytes[4..8].copy_from_slice(&seq.to_be_bytes());
    bytes
}

/// The (run, seq) a payload carries.
pub fn seq_of(payload: &[u8]) -> Option<(u32, u32)> {
    let run = u32::from_be_bytes(payload.get(..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?);
    Some((run, seq))
}

/// Starts `n` bare nodes, each dialing all before it, and waits until each has `n - 1` peers.
pub async fn mesh(n: usize) -> anyhow::Result<Vec<BareNode>> {
    let mut nodes: Vec<BareNode> = Vec::new();
    for _ in 0..n {
        let peers = nodes.iter().map(|b| b.addr.clone()).collect();
        nodes.push(BareNode::start(peers).await?);
    }
    let started = Instant::now();
    for node in &nodes {
        while node.handle.peers().await?.len() < n - 1 {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the bare mesh did not form"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Let gossipsub graft its mesh (a couple of heartbeats).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(nodes)
}
