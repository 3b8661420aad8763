//! The one task that owns the `Swarm`: a `select!` over swarm events, commands, LAN discovery and
//! three timers: a wake-up at the gossipsub heartbeat (gossipsub 0.50 only runs heartbeats when
//! something polls it), a redial check for kept peers ([`super::redial`]), and peer routing
//! rounds ([`super::routing`]). Request-response traffic is handled in `requests`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::metrics::Recorder;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::behaviour::{Behaviour, BehaviourEvent};
use super::discovery;
use super::paths::{self, Path};
use super::redial::{Keeper, peer_of};
use super::routing::Routing;
use super::{Command, NetConfig, NetError, NetEvent, PeerInfo, PeerSource, Service, Topic};

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
    commands: mpsc::UnboundedReceiver<Command>,
    pub(super) events: mpsc::Sender<NetEvent>,
    pub(super) metrics: libp2p::metrics::Metrics,
    shutdown: CancellationToken,
    pub(super) peers: HashMap<PeerId, Peer>,
    /// Dials in flight and how their address was learned.
    pub(super) pending: HashMap<ConnectionId, PeerSource>,
    /// `--peer` addresses and LAN finds, redialed when they drop.
    pub(super) keeper: Keeper,
    listen_addrs: watch::Sender<Vec<Multiaddr>>,
    /// Requests awaiting their answer (ids are per service).
    pub(super) requests: HashMap<(Service, OutboundRequestId), AnswerSender>,
    /// Peer routing, relays and reachability.
    pub(super) routing: Routing,
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
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                Some(event) = found.recv() => self.handle_discovery_event(event),
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

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic.name()), data);
                let _ = reply.send(match result {
                    Ok(_) | Err(PublishError::Duplicate) => Ok(()),
                    Err(PublishError::NoPeersSubscribedToTopic) => Err(NetError::NoPeers),
                    Err(e) => Err(NetError::Publish(e.to_string())),
                });
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

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => {
                self.handle_gossip_event(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.rtt = Some(rtt);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.metrics.record(&event);
                if let identify::Event::Received {
                    peer_id,
                    info,
                    connection_id,
                } = event
                {
                    self.on_identified(peer_id, connection_id, info);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                self.metrics.record(&event);
                self.on_kad(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => {
                self.on_relay_client(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(event)) => {
                self.metrics.record(&event);
                self.on_relay_server(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(event)) => {
                self.metrics.record(&event);
                self.on_dcutr(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(event)) => self.on_autonat(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => {
                self.handle_request_event(Service::Sync, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Files(event)) => {
                self.handle_request_event(Service::Files, event)
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                if self.config.relay_server && !paths::is_relayed(&address) {
                    self.declare_external(&address);
                }
                let full = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                self.listen_addrs.send_modify(|addrs| {
                    if !addrs.contains(&full) {
                        addrs.push(full);
                    }
                });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                self.listen_addrs
                    .send_modify(|addrs| addrs.retain(|a| a != &full));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.on_connected(peer_id, connection_id, &endpoint, num_established.get());
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.on_disconnected(peer_id, connection_id, num_established);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                self.pending.remove(&connection_id);
                tracing::debug!(peer = ?peer_id, error = %error, "dial failed");
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => self.on_listener_closed(listener_id, reason.err()),
            _ => {}
        }
    }

    fn handle_gossip_event(&mut self, event: gossipsub::Event) {
        self.metrics.record(&event);
        if let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        {
            let Some(topic) = Topic::from_hash(&message.topic) else {
                self.report_ignore(message_id, propagation_source);
                return;
            };
            let event = NetEvent::Gossip {
                source: propagation_source,
                id: message_id.clone(),
                topic,
                data: message.data,
            };
            if self.events.try_send(event).is_err() {
                // Overloaded: drop rather than stall the swarm. Sync fetches it again later.
                self.report_ignore(message_id, propagation_source);
            }
        }
    }

    fn report_ignore(&mut self, id: gossipsub::MessageId, source: PeerId) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, gossipsub::MessageAcceptance::Ignore);
    }

    fn on_connected(
        &mut self,
        peer_id: PeerId,
        connection: ConnectionId,
        endpoint: &ConnectedPoint,
        count: u32,
    ) {
        let dialed = endpoint.is_dialer().then(|| endpoint.get_remote_address());
        let kept = self.keeper.connected(peer_id, dialed);
        let source = match (self.pending.remove(&connection), kept) {
            (Some(source), _) | (None, Some(source)) => source,
            // Dials nobody here asked for are Kademlia's (its queries connect to peers).
            (None, None) if endpoint.is_dialer() => PeerSource::Kademlia,
            (None, None) => PeerSource::Inbound,
        };
        let peer = self.peers.entry(peer_id).or_insert(Peer {
            connections: HashMap::new(),
            source,
            rtt: None,
            since: Instant::now(),
            identified: false,
        });
        peer.connections
            .insert(connection, endpoint.get_remote_address().clone());
        if count == 1 {
            tracing::info!(peer = %peer_id, source = ?peer.source, "peer connected");
            let _ = self.events.try_send(NetEvent::PeerConnected(peer_id));
            let _ = self.events.try_send(NetEvent::PeerCount(self.peers.len()));
        }
        self.prefer_direct(peer_id);
    }

    fn on_disconnected(&mut self, peer_id: PeerId, connection: ConnectionId, remaining: u32) {
        if let Some(peer) = self.peers.get_mut(&peer_id) {
            peer.connections.remove(&connection);
        }
        if remaining > 0 {
            return;
        }
        self.peers.remove(&peer_id);
        tracing::info!(peer = %peer_id, "peer disconnected");
        self.keeper.disconnected(&peer_id, Instant::now());
        let _ = self.events.try_send(NetEvent::PeerCount(self.peers.len()));
    }
}
