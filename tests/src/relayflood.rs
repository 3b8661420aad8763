//! A reservation flood: many fresh libp2p identities, each asking a relay for a slot (circuit
//! relay v2 `RESERVE`) and holding it as long as the flood lasts, for relay-limit tests.

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, noise, relay, tcp, yamux};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(NetworkBehaviour)]
struct Flooder {
    relay: relay::client::Behaviour,
}

/// What the flood got from the relay.
#[derive(Debug, Default, Clone, Copy)]
pub struct FloodOutcome {
    /// Reservations the relay accepted.
    pub accepted: usize,
    /// Reservations refused (the relay's limits) or failed.
    pub refused: usize,
}

/// A running flood; dropping it (or [`Flood::stop`]) releases every identity's slot.
pub struct Flood {
    stop: CancellationToken,
    tasks: JoinSet<bool>,
}

impl Flood {
    /// Starts `n` identities asking `relay` (`/ip4/…/tcp/…/p2p/<relay id>`) for a slot at once.
    pub fn start(relay: Multiaddr, n: usize) -> Flood {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for _ in 0..n {
            let relay = relay.clone();
            let stop = stop.clone();
            tasks.spawn(async move { reserve_and_hold(relay, stop).await.unwrap_or(false) });
        }
        Flood { stop, tasks }
    }

    /// Waits until every identity has its answer (or `bound` passes); the slots stay held.
    pub async fn outcome(&mut self, bound: Duration) -> FloodOutcome {
        let mut outcome = FloodOutcome::default();
        let deadline = tokio::time::Instant::now() + bound;
        while let Ok(Some(result)) = tokio::time::timeout_at(deadline, self.tasks.join_next()).await
        {
            match result {
                Ok(true) => outcome.accepted += 1,
                _ => outcome.refused += 1,
            }
        }
        outcome
    }

    /// Ends the flood: every identity disconnects.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One identity: reserve, report, then hold the slot until told to stop (in a detached task, so
/// the answer is reported while the connection stays up).
async fn reserve_and_hold(relay: Multiaddr, stop: CancellationToken) -> Result<bool> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_, relay| Flooder { relay })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    swarm.listen_on(relay.with(Protocol::P2pCircuit))?;
    let answer = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(FlooderEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return true,
                SwarmEvent::ListenerClosed { .. } | SwarmEvent::ListenerError { .. } => {
                    return false;
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = async { loop { swarm.select_next_some().await; } } => {}
        }
    });
    Ok(answer)
}

/// The relay's PeerId from its address.
pub fn relay_peer(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}
