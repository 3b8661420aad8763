//! The peer-to-peer network: a libp2p swarm owned by one [`EventLoop`] task, driven through a
//! cloneable [`Handle`], reporting inbound traffic as [`NetEvent`]s.
//!
//! - [`behaviour`]: the composed libp2p behaviour (gossipsub, identify, ping, connection limits)
//!   and the swarm builder.
//! - [`event_loop`]: the one task that touches the `Swarm`: commands in, events out, redials.
//! - [`redial`]: the peers kept connected (`--peer` addresses, LAN finds), redialed with backoff;
//!   `lan` applies it and mDNS finds in the event loop.
//! - [`routing`]: federation beyond the LAN: Kademlia peer routing, relay reservations, hole
//!   punching, AutoNAT, and a direct connection replacing a relayed one.
//! - [`paths`]: which advertised addresses are usable, and a connection's path (LAN, direct,
//!   relayed).
//! - `requests`: the request-response services (sync, files) in and out.
//! - [`discovery`]: LAN discovery with `mdns-sd`: advertise, browse, report found and gone peers.
//! - `timer_thread`: libp2p's timer thread, started in the batch scheduling class.
//!
//! `net` knows topics and bytes; it knows nothing about chat. Every gossip message it hands out
//! must be answered with [`Handle::report`] (Accept / Reject / Ignore): only accepted messages are
//! relayed, and rejections lower the forwarding peer's score.

pub mod behaviour;
pub mod codec;
pub mod discovery;
pub mod event_loop;
mod lan;
pub mod paths;
mod publish;
pub mod redial;
mod requests;
mod routing;
mod swarm_events;
mod timer_thread;

use std::time::Duration;

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use event_loop::EventLoop;

/// The gossip topics. Room ids travel inside envelopes, so a node needs only these few topics
/// (gossipsub's default filter allows 100); see docs/protocol.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Public room messages.
    Public,
    /// Account records and presence.
    Directory,
    /// Group and direct room traffic, relayed by every node, readable by members only.
    Rooms,
    /// Ephemeral signals: presence heartbeats, typing notices, read receipts.
    Signals,
}

impl Topic {
    /// Every topic a node subscribes to.
    pub const ALL: [Topic; 4] = [
        Topic::Public,
        Topic::Directory,
        Topic::Rooms,
        Topic::Signals,
    ];

    /// The gossipsub topic string.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Public => "chatly/v1/public",
            Topic::Directory => "chatly/v1/directory",
            Topic::Rooms => "chatly/v1/rooms",
            Topic::Signals => "chatly/v1/signals",
        }
    }

    fn from_hash(hash: &libp2p::gossipsub::TopicHash) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == hash.as_str())
    }
}

/// How a connected peer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSource {
    /// LAN discovery (mDNS).
    Mdns,
    /// A `--peer` address from the command line.
    Static,
    /// An address given at run time (`POST /api/v1/node/peers`).
    Dialed,
    /// It dialed us.
    Inbound,
    /// Found through Kademlia peer routing (another node knew it).
    Kademlia,
    /// Dialed because an account record names it as an account's home node.
    Record,
}

/// A connected peer, for the node page.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// Its PeerId.
    pub peer_id: String,
    /// Addresses of the open connections.
    pub addrs: Vec<String>,
    /// How it was found.
    pub source: PeerSource,
    /// Its gossipsub score as this node sees it (negative after misbehaviour).
    pub score: f64,
    /// Last ping round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// The best path among its connections: `lan`, `direct` or `relayed`.
    pub path: paths::Path,
}

/// This node's reachability, for the node page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetStatus {
    /// What AutoNAT learned: `public`, `private` or `unknown`.
    pub reachability: &'static str,
    /// Addresses others can reach this node at: confirmed external ones and relay circuits.
    pub external_addrs: Vec<String>,
    /// The relays this node holds a reservation on (PeerIds).
    pub relays: Vec<String>,
    /// Whether this node offers circuit relay to others.
    pub relay_server: bool,
}

/// What the network reports to the rest of the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossip message awaiting validation: answer with [`Handle::report`].
    Gossip {
        /// The peer that forwarded it (punished on Reject).
        source: PeerId,
        /// gossipsub's id for it (the envelope id).
        id: MessageId,
        /// Which topic.
        topic: Topic,
        /// The envelope bytes.
        data: Vec<u8>,
    },
    /// The number of connected peers changed.
    PeerCount(usize),
    /// A peer connected (its first connection).
    PeerConnected(PeerId),
    /// A peer asks something of a request-response service: answer with [`Handle::respond`].
    Request {
        /// Which service.
        service: Service,
        /// Who asks.
        peer: PeerId,
        /// The request bytes.
        data: Vec<u8>,
        /// Where the answer goes.
        channel: ResponseChannel<Vec<u8>>,
    },
}

/// The request-response protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// History sync (`/chatly/sync/2`).
    Sync,
    /// File chunks (`/chatly/file/1`).
    Files,
}

/// Errors of the network boundary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// The event loop has stopped.
    #[error("the network is shut down")]
    Closed,
    /// The address cannot be dialed.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// What was dialed.
        addr: String,
        /// Why not.
        reason: String,
    },
    /// No peer takes the topic yet: the message is stored and goes out later.
    #[error("no peer is connected to the topic yet")]
    NoPeers,
    /// A request to a peer failed.
    #[error("request failed: {0}")]
    Request(String),
    /// Every peer's send queue is full: the message was not sent; it may be once they drain.
    #[error("every peer's send queue is full")]
    QueuesFull,
    /// Any other publish failure.
    #[error("publish failed: {0}")]
    Publish(String),
    /// The swarm could not be built or could not listen.
    #[error("network setup failed: {0}")]
    Setup(String),
}

/// Commands from handles to the event loop; each carries its reply channel.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    PublishEnvelope {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Report {
        id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    Dial {
        addr: Multiaddr,
        source: PeerSource,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Status {
        reply: oneshot::Sender<NetStatus>,
    },
    DialPeer {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    Request {
        service: Service,
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        service: Service,
        channel: ResponseChannel<Vec<u8>>,
        data: Vec<u8>,
    },
}

/// A cloneable handle to the network event loop.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
}

impl Handle {
    /// This node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Publishes bytes on a topic. `Ok` means a peer's queue took it, not that it was delivered.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { topic, data, reply })?;
        rx.await.map_err(|_| NetError::Closed)?
    }

    /// Publishes an envelope on a topic; envelopes queued together travel in gossip bundles.
    /// `Ok` means a peer's queue took it, not that it was delivered.
    pub async fn publish_envelope(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::PublishEnvelope { topic, data, reply })?;
        rx.await.map_err(|_| NetError::Closed)?
    }

    /// Reports the validation verdict on a gossip message (exactly once per message).
    pub fn report(&self, id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        let _ = self.send(Command::Report {
            id,
            source,
            acceptance,
        });
    }

    /// Dials an address (with or without a trailing `/p2p/<peer id>`).
    pub async fn dial(&self, addr: Multiaddr, source: PeerSource) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial {
            addr,
            source,
            reply,
        })?;
        rx.await.map_err(|_| NetError::Closed)?
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers { reply })?;
        rx.await.map_err(|_| NetError::Closed)
    }

    /// The addresses this node listens on, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::ListenAddrs { reply })?;
        rx.await.map_err(|_| NetError::Closed)
    }

    /// Reachability, external addresses and relays.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply })?;
        rx.await.map_err(|_| NetError::Closed)
    }

    /// Connects to a node known by PeerId (an account's home node): dials the given addresses
    /// and looks the peer up through Kademlia. Nothing happens when it is already connected.
    pub fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let _ = self.send(Command::DialPeer { peer, addrs });
    }

    /// Sends a request to a connected peer and waits for its answer.
    pub async fn request(
        &self,
        service: Service,
        peer: PeerId,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            service,
            peer,
            data,
            reply,
        })?;
        rx.await.map_err(|_| NetError::Closed)?
    }

    /// Answers a request.
    pub fn respond(&self, service: Service, channel: ResponseChannel<Vec<u8>>, data: Vec<u8>) {
        let _ = self.send(Command::Respond {
            service,
            channel,
            data,
        });
    }

    fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).map_err(|_| NetError::Closed)
    }
}

/// What the network needs to start.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Addresses dialed at start and redialed with backoff.
    pub static_peers: Vec<Multiaddr>,
    /// LAN discovery on or off.
    pub mdns: bool,
    /// Instance name for mDNS (defaults to the PeerId).
    pub name: Option<String>,
    /// Gossipsub heartbeat interval.
    pub heartbeat: Duration,
    /// Offer circuit relay v2 to other nodes.
    pub relay_server: bool,
    /// Addresses declared reachable from outside (`--external-addr`).
    pub external_addrs: Vec<Multiaddr>,
    /// Run Kademlia and dial nodes found through it and through account records (off: only
    /// `--peer`, LAN finds and explicit dials).
    pub peer_routing: bool,
}

/// Builds the swarm, starts listening and spawns the event loop.
pub async fn spawn(
    keypair: libp2p::identity::Keypair,
    config: NetConfig,
    registry: &mut prometheus_client::registry::Registry,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Network, NetError> {
    let peer_id = keypair.public().to_peer_id();
    timer_thread::start_in_batch_class();
    let swarm = behaviour::build_swarm(keypair, &config, registry)?;
    let metrics = libp2p::metrics::Metrics::new(registry.sub_registry_with_prefix("libp2p"));
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::channel(4096);
    let event_loop = EventLoop::new(swarm, config, command_rx, events, metrics, shutdown)?;
    let listen_addrs = event_loop.listen_addrs();
    tokio::spawn(event_loop.run());
    Ok(Network {
        handle: Handle { commands, peer_id },
        events: event_rx,
        listen_addrs,
    })
}

/// A started network.
#[derive(Debug)]
pub struct Network {
    /// Commands in.
    pub handle: Handle,
    /// Inbound traffic out.
    pub events: mpsc::Receiver<NetEvent>,
    /// The bound listen addresses, as they change.
    pub listen_addrs: tokio::sync::watch::Receiver<Vec<Multiaddr>>,
}
