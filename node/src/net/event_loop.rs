//! The one task that owns the `Swarm`: a `select!` over swarm events, commands, LAN discovery and
//! three timers: a wake-up at the gossipsub heartbeat (gossipsub 0.50 only runs heartbeats when
//! something polls it), a redial check for kept peers ([`super::redial`]), and peer routing
//! rounds ([`super::routing`]). Swarm events are handled in `swarm_events`, request-response
//! traffic in `requests`, publishing (and gossip bundles) in `publish`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::behaviour::Behaviour;
use super::discovery;
use super::paths::{self, Path};
use super::redial::{Keeper, peer_of};
use super::routing::Routing;
use super::{Command, NetConfig, NetError, NetEvent, PeerInfo, PeerSource, Service};

/// Where the answer to an outbound request goes.
pub(super) type AnswerSender = tokio::sync::oneshot::Sender<Result<Vec<u8>, NetError>>;

/// A connected peer.
pub(super) struct Peer {
    pub(super) connections: HashMap<ConnectionId, Multiaddr>,
    pub(super) source: PeerSource,
    pub(super) rtt: Option<Duration>,
    /// When it connected, and whether identify has shown it to be a Chatly node since.
    pub(super) since: Instant,
    pub(super) identified: bool,
}

impl Peer {
    /// The best path among its connections (LAN before direct before relayed).
    pub(super) fn path(&self) -> Path {
        self.connections
            .values()
            .map(|addr| paths::path_of(addr, self.source))
            .min()
            .unwrap_or(Path::Direct)
    }
}

/// Owns the swarm; see the module docs.
pub struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) config: NetConfig,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) events: mpsc::Sender<NetEvent>,
    pub(super) metrics: libp2p::metrics::Metrics,
    shutdown: CancellationToken,
    pub(super) peers: HashMap<PeerId, Peer>,
    /// Dials in flight and how their address was learned.
    pub(super) pending: HashMap<ConnectionId, PeerSource>,
    /// `--peer` addresses and LAN finds, redialed when they drop.
    pub(super) keeper: Keeper,
    pub(super) listen_addrs: watch::Sender<Vec<Multiaddr>>,
    /// Requests awaiting their answer (ids are per service).
    pub(super) requests: HashMap<(Service, OutboundRequestId), AnswerSender>,
    /// Peer routing, relays and reachability.
    pub(super) routing: Routing,
    /// Envelopes held for the next gossip payload.
    pub(super) outgoing: super::publish::Outgoing,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        config: NetConfig,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<NetEvent>,
        metrics: libp2p::metrics::Metrics,
        shutdown: CancellationToken,
    ) -> Result<Self, NetError> {
        let keeper = Keeper::new(&config.static_peers, Instant::now());
        let mut this = Self {
            swarm,
            config,
            commands,
            events,
            metrics,
            shutdown,
            peers: HashMap::new(),
            pending: HashMap::new(),
            keeper,
            listen_addrs: watch::channel(Vec::new()).0,
            requests: HashMap::new(),
            routing: Routing::new(Instant::now()),
            outgoing: Default::default(),
        };
        for addr in this.config.external_addrs.clone() {
            this.swarm.add_external_address(addr);
        }
        for addr in this.config.listen.clone() {
            this.swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Setup(format!("cannot listen on {addr}: {e}")))?;
        }
        Ok(this)
    }

    /// Subscribes to the set of bound listen addresses (each ending in `/p2p/<peer id>`).
    pub fn listen_addrs(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listen_addrs.subscribe()
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        let (discovery, mut found) = if self.config.mdns {
            match discovery::spawn(*self.swarm.local_peer_id(), self.config.name.clone()) {
                Ok((handle, rx)) => (Some(handle), rx),
                Err(e) => {
                    tracing::warn!(error = %e, "LAN discovery is off: mDNS could not start");
                    (None, mpsc::channel(1).1)
                }
            }
        } else {
            (None, mpsc::channel(1).1)
        };
        let mut wake = tokio::time::interval(self.config.heartbeat);
        let mut redial = tokio::time::interval(Duration::from_millis(500));
        let mut routing = tokio::time::interval(Duration::from_secs(1));
        let mut advertised = Vec::new();
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_commands(command),
                    None => break,
                },
                Some(event) = found.recv() => self.handle_discovery_event(event),
                _ = sleep_until_due(self.outgoing.due()) => self.flush_envelopes(),
                _ = wake.tick() => {}
                _ = redial.tick() => self.redial(),
                _ = routing.tick() => self.routing_tick(),
                _ = self.shutdown.cancelled() => break,
            }
            if let Some(discovery) = &discovery {
                let current = self.listen_addrs.borrow().clone();
                if current != advertised {
                    discovery.advertise(current.clone());
                    advertised = current;
                }
            }
        }
        if let Some(discovery) = discovery {
            discovery.stop();
        }
    }

    pub(super) fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::PublishEnvelope { topic, data, reply } => {
                let _ = reply.send(self.hold_envelope(topic, data));
            }
            Command::Report {
                id,
                source,
                acceptance,
            } => {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::Dial {
                addr,
                source,
                reply,
            } => {
                let _ = reply.send(self.dial(addr, source));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.borrow().clone());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.net_status());
            }
            Command::DialPeer { peer, addrs } => self.dial_peer(peer, addrs),
            Command::Request {
                service,
                peer,
                data,
                reply,
            } => self.send_request(service, peer, data, reply),
            Command::Respond {
                service,
                channel,
                data,
            } => self.send_response(service, channel, data),
        }
    }

    pub(super) fn dial(&mut self, addr: Multiaddr, source: PeerSource) -> Result<(), NetError> {
        let opts = match peer_of(&addr) {
            Some(peer) if peer == *self.swarm.local_peer_id() => {
                return Err(NetError::Dial {
                    addr: addr.to_string(),
                    reason: "that is this node".into(),
                });
            }
            Some(peer) if self.swarm.is_connected(&peer) => return Ok(()),
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let id = opts.connection_id();
        self.swarm.dial(opts).map_err(|e| NetError::Dial {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        self.pending.insert(id, source);
        Ok(())
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mut infos: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, peer)| PeerInfo {
                peer_id: id.to_string(),
                addrs: peer.connections.values().map(|a| a.to_string()).collect(),
                source: peer.source,
                score: gossipsub.peer_score(id).unwrap_or(0.0),
                rtt_ms: peer.rtt.map(|d| d.as_secs_f64() * 1000.0),
                path: peer.path(),
            })
            .collect();
        infos.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        infos
    }
}

/// Waits until `due`, or forever when nothing is due.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}
