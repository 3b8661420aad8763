//! Kept peers and LAN finds, on the event loop's side: redialing `--peer` addresses and LAN
//! peers that dropped (the bookkeeping is [`super::redial::Keeper`]), and dialing what mDNS finds.

use std::time::Instant;

use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};

use super::PeerSource;
use super::discovery::DiscoveryEvent;
use super::event_loop::EventLoop;
use super::redial::Dial;

impl EventLoop {
    pub(super) fn redial(&mut self) {
        let swarm = &self.swarm;
        let due = self.keeper.due(Instant::now(), |p| swarm.is_connected(p));
        for dial in due {
            match dial {
                Dial::Static(addr) => {
                    if let Err(e) = self.dial(addr.clone(), PeerSource::Static) {
                        tracing::debug!(%addr, error = %e, "redial failed");
                    }
                }
                Dial::Lan(peer, addrs) => self.dial_lan(peer, addrs),
            }
        }
    }

    fn dial_lan(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
        let id = opts.connection_id();
        if self.swarm.dial(opts).is_ok() {
            self.pending.insert(id, PeerSource::Mdns);
        }
    }

    pub(super) fn handle_discovery_event(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found { peer, addrs } => {
                if peer == *self.swarm.local_peer_id() {
                    return;
                }
                if self.keeper.found(peer, addrs.clone(), Instant::now()) {
                    tracing::info!(%peer, "found on the LAN");
                }
                match self.peers.get_mut(&peer) {
                    // It dialed us first (or routing found it first); it is on the LAN all the same.
                    Some(connected) => {
                        if matches!(
                            connected.source,
                            PeerSource::Inbound | PeerSource::Kademlia | PeerSource::Record
                        ) {
                            connected.source = PeerSource::Mdns;
                        }
                        self.keeper.connected(peer, None);
                    }
                    None => self.dial_lan(peer, addrs),
                }
            }
            DiscoveryEvent::Gone { peer } => {
                if self.keeper.gone(&peer) {
                    tracing::info!(%peer, "left the LAN");
                }
            }
        }
    }
}
