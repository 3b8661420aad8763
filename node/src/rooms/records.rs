//! Keeps local accounts' records pointing at this node: when the node's dialable addresses
//! change (a relay slot granted or lost, a new listen port), every unlocked account publishes a
//! record with the new addresses, so first contacts elsewhere can still dial its home node.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Rooms;

/// How often the node's addresses are compared with the ones last published.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Runs until shutdown.
pub async fn run_address_keeper(rooms: Arc<Rooms>, shutdown: CancellationToken) {
    let mut published = rooms.home_addrs().await;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let current = rooms.home_addrs().await;
        if current == published {
            continue;
        }
        tracing::info!(addrs = ?current, "this node's addresses changed; updating account records");
        published = current;
        for keys in rooms.vault.all() {
            if let Err(e) = rooms.refresh_record(&keys).await {
                tracing::warn!(error = %e, "could not re-publish an account record");
            }
        }
    }
}

/// The addresses an account record gives for its home node: those confirmed reachable from
/// outside (relay circuits, `--external-addr`, what AutoNAT confirmed) first, then the listen
/// addresses, each once and without the trailing `/p2p/<this node>` (the dialer knows the PeerId
/// from the record). AutoNAT confirms a listen address with that suffix: kept, it listed the
/// address twice and changed every record a few seconds after start, so every node re-published
/// its accounts' records to the whole mesh for nothing. Loopback addresses only when the node
/// listens on nothing else (several nodes on one machine).
pub fn home_addrs_of(external: &[String], listen: &[libp2p::Multiaddr]) -> Vec<String> {
    let strip = crate::net::redial::strip_p2p;
    let loopback = crate::net::paths::is_loopback;
    let listen: Vec<libp2p::Multiaddr> = listen.iter().map(strip).collect();
    let only_loopback = listen.iter().all(loopback);
    let external = external
        .iter()
        .filter_map(|a| a.parse::<libp2p::Multiaddr>().ok())
        .map(|a| strip(&a));
    let mut addrs: Vec<String> = Vec::new();
    let listen = listen.into_iter().filter(|a| only_loopback || !loopback(a));
    for addr in external.chain(listen) {
        let addr = addr.to_string();
        if !addrs.contains(&addr) && addr.len() <= chatly_protocol::MAX_NODE_ADDR_LEN {
            addrs.push(addr);
        }
    }
    addrs.truncate(chatly_protocol::MAX_NODE_ADDRS);
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> Vec<libp2p::Multiaddr> {
        vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()]
    }

    #[test]
    fn an_address_confirmed_with_this_nodes_id_is_listed_once() {
        let before = home_addrs_of(&[], &listen());
        assert_eq!(before, ["/ip4/127.0.0.1/tcp/4001"]);
        // What AutoNAT reports once a peer dialed the listen address back.
        let confirmed = [
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWG1Q6HGRfHZA72dmhgBaa214UimfnKV3HARfTDZt8Bhd2"
                .to_string(),
        ];
        // The same list: the keeper has nothing to re-publish.
        assert_eq!(home_addrs_of(&confirmed, &listen()), before);
    }

    #[test]
    fn external_addresses_come_first_and_keep_their_relay() {
        let relayed = "/ip4/10.0.0.9/tcp/4001/p2p/12D3KooWRD8j1ATMK1q1UaMAyvuJM5fi2m47mXV26QpHSmx9s3jD/p2p-circuit";
        let own = "/p2p/12D3KooWG1Q6HGRfHZA72dmhgBaa214UimfnKV3HARfTDZt8Bhd2";
        let listen: Vec<libp2p::Multiaddr> = vec![
            "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            "/ip4/192.168.1.20/tcp/4001".parse().unwrap(),
        ];
        let addrs = home_addrs_of(
            &[format!("{relayed}{own}"), "not an address".into()],
            &listen,
        );
        // Loopback is left out where the node listens on more than loopback.
        assert_eq!(addrs, [relayed, "/ip4/192.168.1.20/tcp/4001"]);
    }
}
