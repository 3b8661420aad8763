//! Peers kept connected: `--peer` addresses and nodes found on the LAN. Both are redialed with
//! exponential backoff when their connection drops (a closed laptop lid, a Wi-Fi blip, a network
//! partition), so a node never stays cut off from a peer it knows about until something else
//! happens to reconnect them. LAN finds are forgotten when mDNS says they left.
//!
//! Pure bookkeeping: the event loop asks [`Keeper::due`] what to dial and performs the dials.

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use super::PeerSource;

/// First and longest wait between redials.
const REDIAL_MIN: Duration = Duration::from_secs(1);
const REDIAL_MAX: Duration = Duration::from_secs(30);

/// One peer to keep connected.
#[derive(Debug)]
struct Kept {
    /// A `--peer` address (its PeerId may be unknown until the first connection).
    addr: Option<Multiaddr>,
    /// LAN addresses from the latest mDNS announcement.
    lan_addrs: Vec<Multiaddr>,
    peer: Option<PeerId>,
    connected: bool,
    backoff: Duration,
    next_dial: Instant,
}

impl Kept {
    fn new(now: Instant) -> Self {
        Self {
            addr: None,
            lan_addrs: Vec::new(),
            peer: None,
            connected: false,
            backoff: REDIAL_MIN,
            next_dial: now,
        }
    }
}

/// A dial the event loop should make.
#[derive(Debug, PartialEq)]
pub enum Dial {
    /// A `--peer` address.
    Static(Multiaddr),
    /// A LAN find, by PeerId and its announced addresses.
    Lan(PeerId, Vec<Multiaddr>),
}

/// The kept peers; see the module docs.
#[derive(Debug, Default)]
pub struct Keeper {
    kept: Vec<Kept>,
}

impl Keeper {
    /// Keeps the `--peer` addresses, dialing them at once.
    pub fn new(statics: &[Multiaddr], now: Instant) -> Self {
        let kept = statics
            .iter()
            .map(|addr| Kept {
                addr: Some(addr.clone()),
                peer: peer_of(addr),
                ..Kept::new(now)
            })
            .collect();
        Self { kept }
    }

    /// Whether `peer` was found on the LAN.
    pub fn is_lan(&self, peer: &PeerId) -> bool {
        self.kept
            .iter()
            .any(|k| k.peer.as_ref() == Some(peer) && !k.lan_addrs.is_empty())
    }

    /// mDNS announced `peer` at `addrs`; true when it is new.
    pub fn found(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) -> bool {
        match self.kept.iter_mut().find(|k| k.peer == Some(peer)) {
            Some(k) => {
                let new = k.lan_addrs.is_empty();
                k.lan_addrs = addrs;
                new
            }
            None => {
                self.kept.push(Kept {
                    lan_addrs: addrs,
                    peer: Some(peer),
                    ..Kept::new(now)
                });
                true
            }
        }
    }

    /// mDNS says `peer` left; true when it was known. `--peer` addresses stay kept.
    pub fn gone(&mut self, peer: &PeerId) -> bool {
        let Some(i) = self.kept.iter().position(|k| k.peer.as_ref() == Some(peer)) else {
            return false;
        };
        let was_lan = !self.kept[i].lan_addrs.is_empty();
        self.kept[i].lan_addrs.clear();
        if self.kept[i].addr.is_none() {
            self.kept.remove(i);
        }
        was_lan
    }

    /// A connection to `peer` opened; `dialed` is the remote address when we dialed. Returns
    /// how the peer was known, if it is kept.
    pub fn connected(&mut self, peer: PeerId, dialed: Option<&Multiaddr>) -> Option<PeerSource> {
        let k = self.kept.iter_mut().find(|k| {
            k.peer == Some(peer)
                || (k.peer.is_none()
                    && dialed.is_some()
                    && k.addr.as_ref().map(strip_p2p).as_ref() == dialed.map(strip_p2p).as_ref())
        })?;
        k.peer = Some(peer);
        k.connected = true;
        k.backoff = REDIAL_MIN;
        Some(if k.addr.is_some() {
            PeerSource::Static
        } else {
            PeerSource::Mdns
        })
    }

    /// The last connection to `peer` closed: redial it after the current backoff.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        for k in self
            .kept
            .iter_mut()
            .filter(|k| k.peer.as_ref() == Some(peer))
        {
            k.connected = false;
            k.next_dial = now + k.backoff;
        }
    }

    /// The dials due at `now`, doubling each one's backoff. `is_connected` guards against a
    /// missed connection event.
    pub fn due(&mut self, now: Instant, is_connected: impl Fn(&PeerId) -> bool) -> Vec<Dial> {
        let mut dials = Vec::new();
        for k in &mut self.kept {
            if k.connected || k.peer.as_ref().is_some_and(&is_connected) || k.next_dial > now {
                continue;
            }
            match (&k.addr, k.peer) {
                (Some(addr), _) => dials.push(Dial::Static(addr.clone())),
                (None, Some(peer)) => dials.push(Dial::Lan(peer, k.lan_addrs.clone())),
                (None, None) => continue,
            }
            k.backoff = (k.backoff * 2).min(REDIAL_MAX);
            k.next_dial = now + k.backoff;
        }
        dials
    }
}

/// The PeerId an address leads to: its last `/p2p/…` (a relay circuit
/// `…/p2p/<relay>/p2p-circuit/p2p/<target>` names the relay first), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last()? {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    }
}

/// The address without its trailing `/p2p/<peer id>` (a relay's PeerId inside stays).
pub fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn a_circuit_address_leads_to_its_target_not_its_relay() {
        let relay = PeerId::random();
        let target = PeerId::random();
        let circuit: Multiaddr =
            format!("/ip4/198.51.100.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{target}")
                .parse()
                .unwrap();
        assert_eq!(peer_of(&circuit), Some(target));
        assert_eq!(
            strip_p2p(&circuit).to_string(),
            format!("/ip4/198.51.100.1/tcp/4001/p2p/{relay}/p2p-circuit")
        );
        assert_eq!(peer_of(&addr(1)), None);
    }

    #[test]
    fn a_dropped_static_peer_is_redialed_with_growing_backoff() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut keeper = Keeper::new(&[addr(1)], t0);
        assert_eq!(keeper.due(t0, |_| false), vec![Dial::Static(addr(1))]);
        assert_eq!(
            keeper.connected(peer, Some(&addr(1))),
            Some(PeerSource::Static)
        );
        assert!(keeper.due(t0 + REDIAL_MAX, |_| false).is_empty());
        keeper.disconnected(&peer, t0);
        assert!(
            keeper.due(t0, |_| false).is_empty(),
            "waits a backoff first"
        );
        let t1 = t0 + REDIAL_MIN;
        assert_eq!(keeper.due(t1, |_| false).len(), 1);
        assert!(keeper.due(t1 + REDIAL_MIN, |_| false).is_empty(), "doubled");
        assert_eq!(keeper.due(t1 + REDIAL_MIN * 2, |_| false).len(), 1);
        assert!(keeper.due(t1 + REDIAL_MAX * 9, |p| *p == peer).is_empty());
    }

    #[test]
    fn a_lan_peer_is_redialed_until_it_leaves() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut keeper = Keeper::default();
        assert!(keeper.found(peer, vec![addr(2)], t0));
        assert!(!keeper.found(peer, vec![addr(3)], t0), "an update, not new");
        assert!(keeper.is_lan(&peer));
        assert_eq!(
            keeper.due(t0, |_| false),
            vec![Dial::Lan(peer, vec![addr(3)])]
        );
        assert_eq!(keeper.connected(peer, None), Some(PeerSource::Mdns));
        keeper.disconnected(&peer, t0);
        assert_eq!(keeper.due(t0 + REDIAL_MAX, |_| false).len(), 1);
        assert!(keeper.gone(&peer));
        assert!(!keeper.is_lan(&peer));
        assert!(keeper.due(t0 + REDIAL_MAX * 4, |_| false).is_empty());
        assert_eq!(keeper.connected(PeerId::random(), None), None);
    }
}
