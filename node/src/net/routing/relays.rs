//! Relays, hole punching and reachability: the event loop's handling of the relay client and
//! service, DCUtR and AutoNAT events, and the reservations it holds on relays.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, relay};

use super::super::event_loop::EventLoop;
use super::MAX_RELAYS;

impl EventLoop {
    pub(in crate::net) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal: false,
                ..
            } => {
                tracing::info!(relay = %relay_peer_id, "holding a slot on a relay: reachable through it");
                self.routing.reserved.insert(relay_peer_id);
            }
            other => tracing::debug!(event = ?other, "relay client"),
        }
    }

    /// A relay refuses a reservation or circuit to a peer that is not a Chatly node: it has no
    /// other business here, so its connection goes too (a flood must not eat the connection
    /// slots honest clients need).
    pub(in crate::net) fn on_relay_server(&mut self, event: relay::Event) {
        let refused = match &event {
            relay::Event::ReservationReqDenied { src_peer_id, .. } => Some(*src_peer_id),
            relay::Event::CircuitReqDenied { src_peer_id, .. } => Some(*src_peer_id),
            _ => None,
        };
        tracing::debug!(?event, "relay service");
        if let Some(peer) = refused
            && !self.peers.get(&peer).is_some_and(|p| p.identified)
        {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    pub(in crate::net) fn on_dcutr(&mut self, event: dcutr::Event) {
        match event.result {
            Ok(_) => {
                tracing::info!(peer = %event.remote_peer_id, "hole punched: direct connection")
            }
            Err(e) => {
                tracing::info!(peer = %event.remote_peer_id, error = %e, "hole punching failed; the connection stays relayed")
            }
        }
    }

    pub(in crate::net) fn on_autonat(&mut self, event: autonat::Event) {
        if let autonat::Event::StatusChanged { new, .. } = event {
            tracing::info!(status = ?new, "reachability changed");
            self.routing.nat = new;
            // A reservation already held stays: removing a relay listener while its
            // reservation is in flight trips an `expect` in libp2p-relay 0.22's client, and a
            // held slot costs the relay little. Only new reservations wait for "not public".
            self.reserve_relays();
        }
    }

    /// Holds reservations on known relays while this node is not known to be public.
    pub(super) fn reserve_relays(&mut self) {
        if self.config.relay_server || self.routing.reachable_from_elsewhere() {
            return;
        }
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .routing
            .relays
            .iter()
            .filter(|(relay, _)| {
                !self.routing.reservations.contains_key(relay) && self.swarm.is_connected(relay)
            })
            .map(|(relay, addr)| (*relay, addr.clone()))
            .collect();
        for (relay, addr) in candidates {
            if self.routing.reservations.len() >= MAX_RELAYS {
                break;
            }
            let circuit = addr.with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(listener) => {
                    tracing::info!(%relay, "asking a relay for a slot");
                    self.routing.reservations.insert(relay, listener);
                }
                Err(e) => tracing::debug!(%circuit, error = %e, "cannot listen through relay"),
            }
        }
    }
}
