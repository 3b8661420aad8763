//! The event loop's handling of swarm events: connections opened and closed, identify, ping,
//! gossip and request-response traffic as the behaviours report it.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::core::ConnectedPoint;
use libp2p::gossipsub;
use libp2p::metrics::Recorder;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, identify, ping};

use super::behaviour::BehaviourEvent;
use super::event_loop::{EventLoop, Peer};
use super::paths;
use super::{NetEvent, PeerSource, Service, Topic};

impl EventLoop {
    pub(super) fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
