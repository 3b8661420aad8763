//! Federation beyond the LAN, with libp2p's own machinery (docs/protocol.md, "Reaching nodes"):
//!
//! - **Kademlia** learns every Chatly node's usable addresses from identify (filtered by
//!   [`super::paths::usable_addrs`]) and answers routing queries. Rounds of `bootstrap` (often
//!   after a new peer, then backing off to about every two minutes, at random gaps so that nodes
//!   do not fall into step) find nodes nobody told us about; a
//!   node keeps up to [`TARGET_PEERS`] connections.
//! - **Relays**: a peer that speaks the circuit relay v2 hop protocol is a relay. Unless AutoNAT
//!   already says this node is public, it takes a reservation on up to [`MAX_RELAYS`] relays and
//!   so gets a `/p2p-circuit` address that identify pushes to its peers.
//! - **DCUtR** punches a hole once a relayed connection exists; when a direct connection to a
//!   peer comes up, its relayed ones are closed (see [`EventLoop::prefer_direct`]).
//! - **AutoNAT** probes reachability through connected peers.
//!
//! The relay, DCUtR and AutoNAT handlers and the reservations are in `routing/relays.rs`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, autonat, identify, kad, relay};

use super::event_loop::EventLoop;
use super::paths::{self, Path};
use super::redial::strip_p2p;
use super::{NetStatus, PeerSource};
use crate::spread;

mod relays;

/// Connections a node keeps at most through peer routing (more come from LAN, `--peer` and
/// inbound dials). Gossipsub meshes hold 6–12 peers per topic; a few more give it choice.
pub const TARGET_PEERS: usize = 16;
/// Relays a NATed node holds a reservation on.
pub const MAX_RELAYS: usize = 2;
/// How long a peer disconnected for a flood of invalid messages stays shut out.
pub const BLOCK_FOR: Duration = Duration::from_secs(600);
/// How long a connected peer has to identify as a Chatly node before it is disconnected.
pub const IDENTIFY_DEADLINE: Duration = Duration::from_secs(10);
/// Gap between routing rounds: short after a change, doubling up to the maximum (each gap
/// drawn between half and one and a half times it, [`spread::around`]).
const ROUND_MIN: Duration = Duration::from_secs(2);
const ROUND_MAX: Duration = Duration::from_secs(120);

/// Routing state owned by the event loop.
pub(super) struct Routing {
    /// Known relays and the address to reach each at.
    relays: HashMap<PeerId, Multiaddr>,
    /// Reservations asked for (circuit listeners), by relay.
    reservations: HashMap<PeerId, ListenerId>,
    /// Reservations the relay accepted.
    reserved: HashSet<PeerId>,
    /// Peers someone asked to reach (home nodes of accounts) and not reached yet.
    wanted: HashSet<PeerId>,
    /// Peers shut out, and until when.
    blocked: HashMap<PeerId, Instant>,
    nat: autonat::NatStatus,
    next_round: Instant,
    round_gap: Duration,
}

impl Routing {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            relays: HashMap::new(),
            reservations: HashMap::new(),
            reserved: HashSet::new(),
            wanted: HashSet::new(),
            blocked: HashMap::new(),
            nat: autonat::NatStatus::Unknown,
            next_round: now + spread::around(ROUND_MIN),
            round_gap: ROUND_MIN,
        }
    }

    /// AutoNAT confirmed an address other machines can use. A loopback address confirmed by a
    /// peer on the same machine does not count: nobody elsewhere can reach it.
    fn reachable_from_elsewhere(&self) -> bool {
        matches!(&self.nat, autonat::NatStatus::Public(addr)
            if !paths::is_loopback(addr))
    }

    /// Something changed (a new peer): run a round soon.
    fn soon(&mut self, now: Instant) {
        self.round_gap = ROUND_MIN;
        self.next_round = self.next_round.min(now + spread::around(ROUND_MIN));
    }
}

impl EventLoop {
    /// Identify told us who a peer is: drop non-Chatly nodes, learn usable addresses and relays.
    pub(super) fn on_identified(
        &mut self,
        peer: PeerId,
        connection: libp2p::swarm::ConnectionId,
        info: identify::Info,
    ) {
        if info.protocol_version != super::behaviour::IDENTIFY_PROTOCOL {
            tracing::debug!(%peer, protocol = %info.protocol_version, "not a Chatly node; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let Some(known) = self.peers.get_mut(&peer) else {
            return;
        };
        known.identified = true;
        let Some(seen_at) = known.connections.get(&connection).cloned() else {
            return;
        };
        let usable = paths::usable_addrs(&seen_at, &info.listen_addrs);
        let mut new_peer = false;
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            new_peer = true;
            for addr in &usable {
                if let kad::RoutingUpdate::Success = kad.add_address(&peer, addr.clone()) {
                    new_peer = false;
                }
            }
        }
        if info.protocols.contains(&relay::HOP_PROTOCOL_NAME) && !paths::is_relayed(&seen_at) {
            let same_host = usable
                .iter()
                .find(|a| !paths::is_relayed(a) && paths::ip_of(a) == paths::ip_of(&seen_at));
            let addr = same_host.unwrap_or(&seen_at).clone();
            self.routing.relays.insert(peer, strip_p2p(&addr));
            self.reserve_relays();
        }
        if new_peer {
            self.routing.soon(Instant::now());
        }
    }

    /// Kademlia found peers: connect while below the target, and reach wanted peers.
    pub(super) fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                peer, addresses, ..
            } if self.peers.len() < TARGET_PEERS || self.routing.wanted.contains(&peer) => {
                self.dial_found(peer, addresses.into_vec(), PeerSource::Kademlia);
            }
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(ok)),
                ..
            } => {
                for found in ok.peers {
                    if self.routing.wanted.contains(&found.peer_id) {
                        self.dial_found(found.peer_id, found.addrs, PeerSource::Record);
                    }
                }
            }
            _ => {}
        }
    }

    /// A listener closed: when it was a relay reservation, forget it (the next round retries).
    pub(super) fn on_listener_closed(
        &mut self,
        listener: ListenerId,
        error: Option<std::io::Error>,
    ) {
        let relay = self
            .routing
            .reservations
            .iter()
            .find(|(_, id)| **id == listener)
            .map(|(relay, _)| *relay);
        if let Some(relay) = relay {
            tracing::info!(%relay, error = ?error, "relay reservation ended");
            self.routing.reservations.remove(&relay);
            self.routing.reserved.remove(&relay);
        }
    }

    /// Once a second: peers that never identified as Chatly nodes dropped, relay reservations
    /// kept up, and a routing round when due.
    pub(super) fn routing_tick(&mut self) {
        let now = Instant::now();
        self.drop_strangers(now);
        self.reserve_relays();
        if !self.config.peer_routing || now < self.routing.next_round || self.peers.is_empty() {
            return;
        }
        self.routing.round_gap = (self.routing.round_gap * 2).min(ROUND_MAX);
        // Each gap varied at random: nodes that met at the same moment would otherwise query each
        // other in the same second, round after round (`spread`).
        self.routing.next_round = now + spread::around(self.routing.round_gap);
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let _ = kad.bootstrap();
        if self.peers.len() >= TARGET_PEERS {
            return;
        }
        let known: Vec<(PeerId, Vec<Multiaddr>)> = kad
            .kbuckets()
            .flat_map(|bucket| {
                bucket
                    .iter()
                    .map(|e| (*e.node.key.preimage(), e.node.value.clone().into_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (peer, addrs) in known {
            if self.peers.len() >= TARGET_PEERS {
                break;
            }
            self.dial_found(peer, addrs, PeerSource::Kademlia);
        }
    }

    /// Disconnects peers connected for [`IDENTIFY_DEADLINE`] without identifying as a Chatly
    /// node (they hold a connection slot and serve no chat), and peers whose gossipsub score
    /// fell below the graylist threshold (a flood of invalid messages): gossipsub already
    /// ignores them; the connection goes too. Their score is remembered, so a redial starts
    /// graylisted.
    fn drop_strangers(&mut self, now: Instant) {
        let graylist = super::behaviour::score_params().1.graylist_threshold;
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let dropped: Vec<(PeerId, bool)> = self
            .peers
            .iter()
            .filter_map(|(id, p)| {
                if !p.identified && now.duration_since(p.since) > IDENTIFY_DEADLINE {
                    Some((*id, false))
                } else if gossipsub.peer_score(id).is_some_and(|s| s < graylist) {
                    Some((*id, true))
                } else {
                    None
                }
            })
            .collect();
        for (peer, flood) in dropped {
            if flood {
                // Shut out for a while too: a flooder that redials at once would make every
                // honest peer's traffic share the link with its junk again.
                tracing::info!(%peer, "graylisted for invalid messages; disconnecting and blocking for 10 minutes");
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                self.routing.blocked.insert(peer, now + BLOCK_FOR);
            } else {
                tracing::debug!(%peer, "no Chatly identify in time; disconnecting");
            }
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let expired: Vec<PeerId> = self
            .routing
            .blocked
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.routing.blocked.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Reaches an account's home node: its record's addresses, and a Kademlia lookup.
    pub(super) fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if !self.config.peer_routing
            || peer == *self.swarm.local_peer_id()
            || self.swarm.is_connected(&peer)
        {
            return;
        }
        self.routing.wanted.insert(peer);
        self.dial_found(peer, addrs, PeerSource::Record);
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.get_closest_peers(peer);
        }
    }

    /// Closes a peer's relayed connections once a direct (or LAN) one is up: the direct path is
    /// faster, and relays limit circuits by time and bytes.
    pub(super) fn prefer_direct(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        self.routing.wanted.remove(&peer);
        if p.path() == Path::Relayed {
            return;
        }
        let relayed: Vec<_> = p
            .connections
            .iter()
            .filter(|(_, addr)| paths::is_relayed(addr))
            .map(|(id, _)| *id)
            .collect();
        for id in relayed {
            tracing::info!(%peer, "a direct connection replaces the relayed one");
            self.swarm.close_connection(id);
        }
    }

    /// A relay server tells clients where it is: its non-loopback listen addresses.
    pub(super) fn declare_external(&mut self, addr: &Multiaddr) {
        if paths::ip_of(addr).is_some_and(|ip| !ip.is_loopback() && !ip.is_unspecified())
            && self.config.external_addrs.is_empty()
        {
            self.swarm.add_external_address(addr.clone());
        }
    }

    pub(super) fn net_status(&self) -> NetStatus {
        NetStatus {
            reachability: match self.routing.nat {
                autonat::NatStatus::Public(_) => "public",
                autonat::NatStatus::Private => "private",
                autonat::NatStatus::Unknown => "unknown",
            },
            external_addrs: self
                .swarm
                .external_addresses()
                .map(|a| a.to_string())
                .collect(),
            relays: self
                .routing
                .reserved
                .iter()
                .map(|p| p.to_string())
                .collect(),
            relay_server: self.config.relay_server,
        }
    }

    fn dial_found(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, source: PeerSource) {
        if !self.config.peer_routing
            || addrs.is_empty()
            || peer == *self.swarm.local_peer_id()
            || self.swarm.is_connected(&peer)
        {
            return;
        }
        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
        let id = opts.connection_id();
        if self.swarm.dial(opts).is_ok() {
            self.pending.insert(id, source);
        }
    }
}
