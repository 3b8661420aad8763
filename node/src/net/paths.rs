//! Which addresses of a peer are worth keeping and telling others, and which path a connection
//! takes (LAN, direct, relayed). Pure functions over multiaddrs, tested without sockets.
//!
//! A peer tells us its listen addresses through identify. Many of them cannot work from here: a
//! laptop behind a NAT lists `10.0.1.2`, which on our side of the NAT is nobody (or someone
//! else). Before an address goes into Kademlia, and so to every node that asks, it must be one of:
//! - on the host we actually reached the peer at (same IP, its listen port);
//! - a relay circuit (`…/p2p-circuit`): it works wherever the relay is reachable;
//! - a globally routable address;
//! - loopback, when we reached the peer over loopback (several nodes on one machine).

use std::net::IpAddr;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::Serialize;

use super::PeerSource;

/// How a connection reaches its peer, for the node page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// On the local network (found by mDNS, or a private / loopback address).
    Lan,
    /// A direct connection across networks (public address, or a punched hole).
    Direct,
    /// Through a circuit relay.
    Relayed,
}

/// True for a relay circuit address.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The IP an address starts with, if any.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

/// True for an address on this machine's loopback interface.
pub fn is_loopback(addr: &Multiaddr) -> bool {
    ip_of(addr).is_some_and(|ip| ip.is_loopback())
}

/// A local-network address: loopback, RFC 1918 / unique-local, link-local.
pub fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
    }
}

/// The path a connection at `remote` takes.
pub fn path_of(remote: &Multiaddr, source: PeerSource) -> Path {
    if is_relayed(remote) {
        Path::Relayed
    } else if source == PeerSource::Mdns || ip_of(remote).is_some_and(is_local_ip) {
        Path::Lan
    } else {
        Path::Direct
    }
}

/// The addresses from a peer's identify worth keeping, given the address we reached it at
/// (`seen_at`, the connection's remote address). See the module docs.
pub fn usable_addrs(seen_at: &Multiaddr, advertised: &[Multiaddr]) -> Vec<Multiaddr> {
    let seen_ip = ip_of(seen_at);
    let seen_loopback = seen_ip.is_some_and(|ip| ip.is_loopback());
    let mut usable: Vec<Multiaddr> = advertised
        .iter()
        .filter(|addr| {
            if is_relayed(addr) {
                return true;
            }
            match ip_of(addr) {
                Some(ip) if ip.is_unspecified() => false,
                Some(ip) if ip.is_loopback() => seen_loopback,
                Some(ip) => Some(ip) == seen_ip || !is_local_ip(ip),
                // DNS names: the peer vouches for them, as for a public address.
                None => addr.iter().next().is_some_and(|p| {
                    matches!(p, Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_))
                }),
            }
        })
        .cloned()
        .collect();
    usable.sort();
    usable.dedup();
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_peer_behind_nat_keeps_only_its_circuit_and_public_addresses() {
        let seen = a("/ip4/198.51.100.7/tcp/40123");
        let advertised = [
            a("/ip4/10.0.1.2/tcp/4001"),
            a("/ip4/127.0.0.1/tcp/4001"),
            a("/ip4/0.0.0.0/tcp/4001"),
            a(
                "/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo/p2p-circuit",
            ),
            a("/ip4/198.51.100.7/udp/4001/quic-v1"),
        ];
        let usable = usable_addrs(&seen, &advertised);
        assert_eq!(usable.len(), 2);
        assert!(
            usable
                .iter()
                .all(|u| is_relayed(u) || ip_of(u) == ip_of(&seen))
        );
    }

    #[test]
    fn a_lan_peer_keeps_its_address_on_the_lan_and_loopback_stays_on_the_machine() {
        let seen = a("/ip4/192.168.1.20/tcp/51000");
        let advertised = [
            a("/ip4/192.168.1.20/tcp/4001"),
            a("/ip4/172.17.0.1/tcp/4001"),
            a("/ip4/127.0.0.1/tcp/4001"),
        ];
        assert_eq!(
            usable_addrs(&seen, &advertised),
            vec![a("/ip4/192.168.1.20/tcp/4001")]
        );
        let local = usable_addrs(&a("/ip4/127.0.0.1/tcp/9"), &advertised);
        assert!(local.contains(&a("/ip4/127.0.0.1/tcp/4001")));
    }

    #[test]
    fn paths_are_told_apart() {
        let relayed = a(
            "/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo/p2p-circuit",
        );
        assert_eq!(path_of(&relayed, PeerSource::Static), Path::Relayed);
        assert_eq!(
            path_of(&a("/ip4/10.0.0.3/tcp/1"), PeerSource::Inbound),
            Path::Lan
        );
        assert_eq!(
            path_of(&a("/ip4/203.0.113.9/udp/1/quic-v1"), PeerSource::Mdns),
            Path::Lan
        );
        assert_eq!(
            path_of(&a("/ip4/203.0.113.9/udp/1/quic-v1"), PeerSource::Static),
            Path::Direct
        );
    }
}
