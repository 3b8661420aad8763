//! The composed libp2p behaviour and the swarm builder.
//!
//! Gossipsub is configured for a chat mesh (see docs/protocol.md and ../shared/design/libp2p-notes.md):
//! anonymous publishing with the envelope id as message id (envelopes carry their author's
//! signature, libp2p's own signing would cost ~4x throughput), `validate_messages()` so nothing is
//! relayed before the node accepted it, an explicit `max_transmit_size`, and peer scoring that
//! punishes invalid messages hard but never punishes a quiet topic.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::gossipsub::{
    self, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode,
};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, kad, noise, ping, relay,
    tcp, yamux,
};

use super::codec::ByteCodec;

use super::{NetConfig, NetError, Topic};

/// Largest gossip frame: one envelope (≤ 60 KiB) plus protobuf framing.
pub const MAX_TRANSMIT_SIZE: usize = 64 * 1024;

/// Identify protocol version string: nodes of other applications are told apart by it.
pub const IDENTIFY_PROTOCOL: &str = "/chatly/1.0.0";

/// Peers a node keeps connections with at most.
pub const MAX_ESTABLISHED: u32 = 256;

/// How long a connection with no open stream stays up. Chat peers must stay connected even
/// when a room is quiet (libp2p's default closes idle connections after 10 s).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// The behaviours every Chatly node runs.
///
/// The order of the fields matters twice. `blocked` and `limits` come first, so a refused
/// connection never reaches the others. The rest are ordered by how many protocols they listen
/// on, fewest first and gossipsub (four) last: the derive nests each field's connection handler
/// one level deeper than the next one's, and libp2p gathers every handler's listen protocols
/// through that nesting each time a connection's task has nothing left to do, which is several
/// times per message on every connection (7 % of the CPU of a 10-node mesh's posts with
/// gossipsub innermost; docs/performance.md, "Session 23").
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers shut out for a while (graylisted floods), refused before anything else.
    pub blocked: libp2p::allow_block_list::Behaviour<libp2p::allow_block_list::BlockedPeers>,
    /// Connection limits next, so a refused connection never reaches the others.
    pub limits: connection_limits::Behaviour,
    /// Relay service for others, only with `--relay-server`.
    pub relay_server: Toggle<relay::Behaviour>,
    /// Hole punching: replaces a relayed connection with a direct one where the NATs allow it
    /// (listens only on relayed connections).
    pub dcutr: dcutr::Behaviour,
    /// Learns whether this node is reachable from outside (and answers others' probes).
    pub autonat: autonat::Behaviour,
    /// Reservations on relays and dials through them.
    pub relay_client: relay::client::Behaviour,
    /// Peer routing among Chatly nodes (its own protocol id, so it never mixes with the IPFS DHT);
    /// off with `--no-peer-routing` (Kademlia's own bootstraps would dial found peers anyway).
    pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    /// File chunks by address (docs/protocol.md, "Files").
    pub files: request_response::Behaviour<ByteCodec>,
    /// History sync: catch-up requests between nodes (docs/protocol.md, "Sync").
    pub sync: request_response::Behaviour<ByteCodec>,
    /// Liveness and round-trip times.
    pub ping: ping::Behaviour,
    /// Learns peers' listen addresses and protocol (two protocols: identify and push).
    pub identify: identify::Behaviour,
    /// Message dissemination (four protocol versions).
    pub gossipsub: gossipsub::Behaviour,
}

/// Protocol id of Chatly's Kademlia.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/chatly/kad/1");

/// When a node first asks its peers whether it is reachable, on average (each node draws its own
/// delay, `spread::around`): soon, so that a node found reachable takes no relay slots for long.
const AUTONAT_BOOT_DELAY: Duration = Duration::from_secs(2);

/// Relay limits for `--relay-server`: sized for chat between a few dozen NATed nodes, small enough
/// that a flood of reservations cannot take the relay down (each reservation costs a connection).
pub const RELAY_MAX_RESERVATIONS: usize = 128;
/// Circuits at once through the relay.
pub const RELAY_MAX_CIRCUITS: usize = 64;
/// Bytes one circuit may carry before the relay closes it; chat text is small and hole punching
/// normally replaces the circuit within seconds, but files may flow while it does not.
pub const RELAY_MAX_CIRCUIT_BYTES: u64 = 64 * 1024 * 1024;
/// How long a circuit lives before the relay closes it (peers redial).
pub const RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(30 * 60);

/// Protocol id of history sync.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/chatly/sync/2");
/// Largest sync request (a summary of what the requester holds).
pub const MAX_SYNC_REQUEST: usize = 1024 * 1024;
/// Largest sync response (one page of envelopes).
pub const MAX_SYNC_RESPONSE: usize = 4 * 1024 * 1024;
/// Protocol id of file chunk transfer.
pub const FILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/chatly/file/1");

/// Builds the swarm: TCP + Noise + Yamux, and QUIC.
pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    config: &NetConfig,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let gossip_registry = registry.sub_registry_with_prefix("gossipsub");
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_behaviour(|key, relay_client| {
            let gossipsub = gossipsub_behaviour(key, config.heartbeat, gossip_registry)?;
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                    .with_agent_version(format!("chatly/{}", env!("CARGO_PKG_VERSION")))
                    // A new relayed address must reach peers at once, not at the next
                    // periodic identify (5 min), or nobody can dial us through the relay.
                    .with_push_listen_addr_updates(true),
            );
            let limits = connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established(Some(MAX_ESTABLISHED))
                    .with_max_pending_incoming(Some(64))
                    .with_max_established_per_peer(Some(4)),
            );
            let sync = request_response::Behaviour::with_codec(
                ByteCodec {
                    max_request: MAX_SYNC_REQUEST,
                    max_response: MAX_SYNC_RESPONSE,
                },
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            let files = request_response::Behaviour::with_codec(
                ByteCodec {
                    max_request: 64,
                    max_response: chatly_protocol::file::MAX_CHUNK_RESPONSE,
                },
                [(FILE_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(20))
                    .with_max_concurrent_streams(32),
            );
            let peer_id = key.public().to_peer_id();
            Ok(Behaviour {
                blocked: Default::default(),
                limits,
                gossipsub,
                identify,
                ping: ping::Behaviour::default(),
                sync,
                files,
                kad: config.peer_routing.then(|| kad_behaviour(peer_id)).into(),
                relay_client,
                relay_server: config
                    .relay_server
                    .then(|| relay_server_behaviour(peer_id))
                    .into(),
                dcutr: dcutr::Behaviour::new(peer_id),
                autonat: autonat::Behaviour::new(
                    peer_id,
                    autonat::Config {
                        // Nodes started together would probe (and have their peers dial them
                        // back) in the same moment, and every later probe in step with it.
                        boot_delay: crate::spread::around(AUTONAT_BOOT_DELAY),
                        retry_interval: Duration::from_secs(30),
                        // Private ranges are real networks too: a LAN behind a router, a
                        // namespace test. Probes only ever go to connected Chatly peers.
                        only_global_ips: false,
                        ..autonat::Config::default()
                    },
                ),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

fn kad_behaviour(peer_id: libp2p::PeerId) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config.set_query_timeout(Duration::from_secs(20));
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), config);
    // Every Chatly node answers routing queries: the mesh is small, and a node behind a NAT is
    // still reachable through its relay. (Auto mode would wait for a confirmed public address.)
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

fn relay_server_behaviour(peer_id: libp2p::PeerId) -> relay::Behaviour {
    // libp2p's default rate limits stay: per peer and per IP, for reservations and circuits.
    let config = relay::Config {
        max_reservations: RELAY_MAX_RESERVATIONS,
        max_reservations_per_peer: 2,
        max_circuits: RELAY_MAX_CIRCUITS,
        max_circuits_per_peer: 8,
        max_circuit_duration: RELAY_MAX_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_MAX_CIRCUIT_BYTES,
        ..relay::Config::default()
    };
    let mut relay = relay::Behaviour::new(peer_id, config);
    // Serve even before a public address is confirmed: `--relay-server` says this node is one.
    relay.set_status(Some(relay::Status::Enable));
    relay
}

fn gossipsub_behaviour(
    key: &libp2p::identity::Keypair,
    heartbeat: Duration,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let _ = key; // anonymous: the node key never signs gossip
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::None)
        .validate_messages()
        .message_id_fn(|message| {
            gossipsub::MessageId::from(chatly_crypto::envelope_id(&message.data).to_vec())
        })
        .max_transmit_size(MAX_TRANSMIT_SIZE)
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?
        .with_metrics(registry, gossipsub::MetricsConfig::default());
    let (params, thresholds) = score_params();
    behaviour.with_peer_score(params, thresholds)?;
    for topic in Topic::ALL {
        behaviour.subscribe(&gossipsub::IdentTopic::new(topic.name()))?;
    }
    Ok(behaviour)
}

/// Peer scoring for chat: an invalid message costs a lot, a quiet topic costs nothing, many nodes
/// behind one address (a LAN, a NAT, a test machine) cost nothing.
pub fn score_params() -> (PeerScoreParams, PeerScoreThresholds) {
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        // Chat rooms are quiet most of the time: never punish a mesh peer for silence.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    };
    let topics: HashMap<_, _> = Topic::ALL
        .into_iter()
        .map(|t| (gossipsub::IdentTopic::new(t.name()).hash(), topic.clone()))
        .collect();
    let params = PeerScoreParams {
        topics,
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: -1000.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}
