//! LAN discovery with `mdns-sd`: advertise `_chatly._udp.local.` with TXT records carrying the
//! PeerId and listen addresses, browse for others, and report who appears and who leaves.
//!
//! mdns-sd runs its own thread and hands results over a blocking channel, so a small thread of
//! ours turns them into [`DiscoveryEvent`]s on a tokio channel. mDNS results are address hints
//! only: the Noise handshake proves who is at an address.

use std::str::FromStr;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;

/// The DNS-SD service type Chatly nodes announce.
pub const SERVICE_TYPE: &str = "_chatly._udp.local.";

/// TXT key of the PeerId.
const TXT_PEER: &str = "peer";
/// TXT keys `addr0`, `addr1`, ... hold listen addresses (a TXT value holds at most 255 bytes).
const TXT_ADDR: &str = "addr";
/// Most addresses announced.
const MAX_ADDRS: usize = 8;

/// What LAN discovery reports.
#[derive(Debug)]
pub enum DiscoveryEvent {
    /// A Chatly node announced itself with these dialable addresses.
    Found {
        /// Its PeerId.
        peer: PeerId,
        /// Addresses to dial.
        addrs: Vec<Multiaddr>,
    },
    /// A node withdrew its announcement or timed out.
    Gone {
        /// Its PeerId.
        peer: PeerId,
    },
}

/// Controls the running discovery.
pub struct DiscoveryHandle {
    daemon: ServiceDaemon,
    peer: PeerId,
    instance: String,
}

impl DiscoveryHandle {
    /// (Re-)announces this node with its current listen addresses.
    pub fn advertise(&self, addrs: Vec<Multiaddr>) {
        let concrete: Vec<Multiaddr> = addrs
            .into_iter()
            .filter(is_lan_dialable)
            .take(MAX_ADDRS)
            .collect();
        let Some(port) = concrete.iter().find_map(tcp_port) else {
            return;
        };
        let mut txt = vec![(TXT_PEER.to_string(), self.peer.to_string())];
        txt.extend(
            concrete
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("{TXT_ADDR}{i}"), a.to_string())),
        );
        let host = format!("{}.local.", self.instance);
        let info = ServiceInfo::new(SERVICE_TYPE, &self.instance, &host, "", port, &txt[..])
            .map(ServiceInfo::enable_addr_auto);
        match info {
            Ok(info) => {
                if let Err(e) = self.daemon.register(info) {
                    tracing::warn!(error = %e, "mDNS announce failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "mDNS service record rejected"),
        }
    }

    /// Withdraws the announcement and stops the daemon.
    pub fn stop(self) {
        let fullname = format!("{}.{SERVICE_TYPE}", self.instance);
        if let Ok(rx) = self.daemon.unregister(&fullname) {
            let _ = rx.recv_timeout(std::time::Duration::from_millis(500));
        }
        let _ = self.daemon.shutdown();
    }
}

/// Starts the mDNS daemon, browses for other nodes and returns their events.
pub fn spawn(
    peer: PeerId,
    name: Option<String>,
) -> Result<(DiscoveryHandle, mpsc::Receiver<DiscoveryEvent>), mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    let browse = daemon.browse(SERVICE_TYPE)?;
    let (tx, rx) = mpsc::channel(256);
    std::thread::Builder::new()
        .name("chatly-mdns".into())
        .spawn(move || {
            while let Ok(event) = browse.recv() {
                let event = match event {
                    ServiceEvent::ServiceResolved(info) => found(
                        &info.txt_properties,
                        info.get_addresses_v4().into_iter().collect(),
                    ),
                    ServiceEvent::ServiceRemoved(_, fullname) => gone(&fullname),
                    _ => None,
                };
                if let Some(event) = event
                    && tx.blocking_send(event).is_err()
                {
                    break;
                }
            }
        })
        .map_err(|e| mdns_sd::Error::Msg(e.to_string()))?;
    // The instance name is the PeerId (unique, ≤ 63 bytes); a node name, if any, rides in front.
    let instance = match name {
        Some(name) => format!("{}-{peer}", sanitize(&name))
            .chars()
            .rev()
            .take(63)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        None => peer.to_string(),
    };
    Ok((
        DiscoveryHandle {
            daemon,
            peer,
            instance,
        },
        rx,
    ))
}

/// Turns a resolved announcement into dialable addresses: the announced addresses, keeping only
/// those whose IP is one mDNS saw the announcement come from (or, if none match, the announced
/// port at the resolved IPs).
fn found(
    txt: &mdns_sd::TxtProperties,
    resolved: Vec<std::net::Ipv4Addr>,
) -> Option<DiscoveryEvent> {
    let peer = PeerId::from_str(txt.get_property_val_str(TXT_PEER)?).ok()?;
    let announced: Vec<Multiaddr> = (0..MAX_ADDRS)
        .filter_map(|i| txt.get_property_val_str(&format!("{TXT_ADDR}{i}")))
        .filter_map(|s| Multiaddr::from_str(s).ok())
        .map(|a| {
            a.iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect()
        })
        .collect();
    let mut addrs: Vec<Multiaddr> = announced
        .iter()
        .filter(|a| matches!(a.iter().next(), Some(Protocol::Ip4(ip)) if resolved.contains(&ip)))
        .cloned()
        .collect();
    if addrs.is_empty()
        && let Some(port) = announced.iter().find_map(tcp_port)
    {
        addrs = resolved
            .iter()
            .map(|ip| {
                Multiaddr::empty()
                    .with(Protocol::Ip4(*ip))
                    .with(Protocol::Tcp(port))
            })
            .collect();
    }
    (!addrs.is_empty()).then_some(DiscoveryEvent::Found { peer, addrs })
}

fn gone(fullname: &str) -> Option<DiscoveryEvent> {
    let instance = fullname.strip_suffix(SERVICE_TYPE)?.trim_end_matches('.');
    let peer_text = instance.rsplit('-').next()?;
    Some(DiscoveryEvent::Gone {
        peer: PeerId::from_str(peer_text).ok()?,
    })
}

fn is_lan_dialable(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => !ip.is_unspecified() && !ip.is_loopback(),
        _ => false,
    }
}

fn tcp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

fn sanitize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(16)
        .collect()
}
