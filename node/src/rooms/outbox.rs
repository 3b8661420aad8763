//! The outbox: a local account's envelope is queued in the same transaction that stores it, and
//! leaves the queue once a peer's sync heads show that the peer holds it.
//!
//! Delivery states shown to the author ([`Delivery`]): queued (no peer handed it yet), sent
//! (gossip handed it to at least one peer), held by N peers (their sync heads cover it). While the
//! queue is not empty, [`run_outbox`] hands unsent envelopes to gossip whenever peers are
//! connected and asks peers for their heads, which both confirms delivery and makes a peer that
//! lacks our envelopes fetch them (a differing summary triggers its pull).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chatly_protocol::{AccountId, RoomId};
use libp2p::PeerId;

use super::Rooms;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::sync::{self as rows, Delivery};
use crate::store::{StoreError, envelopes};

/// How long the outbox waits between looks while it is not empty.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// How long after handing envelopes to gossip the outbox asks peers whether they hold them.
const ACK_DELAY: Duration = Duration::from_millis(250);
/// Most peers asked per look.
const PEERS_ASKED: usize = 3;
/// Most queued envelopes handled per look.
const BATCH: usize = 2_000;
/// Shortest gap between looks: posts arriving in a burst share one look.
const LOOK_GAP: Duration = Duration::from_millis(50);

/// In-memory outbox state; the queue itself is in the store.
#[derive(Debug, Default)]
pub(crate) struct OutboxState {
    /// Queued envelopes gossip already handed to a peer (lost on restart: then they are handed
    /// again, which peers ignore as duplicates).
    sent: std::sync::Mutex<HashSet<[u8; 32]>>,
    /// Woken by a local post and by a new connection.
    pub(crate) wake: tokio::sync::Notify,
    /// What each peer was last known to hold per (room, local author), to skip writes that
    /// change nothing.
    known: std::sync::Mutex<std::collections::HashMap<(PeerId, RoomId, AccountId), u64>>,
}

/// The gossip topic that carries a room's envelopes.
pub fn topic_of(room: RoomId) -> Topic {
    match room {
        RoomId::PUBLIC => Topic::Public,
        RoomId::DIRECTORY => Topic::Directory,
        _ => Topic::Rooms,
    }
}

impl Rooms {
    /// Notes that gossip handed a queued envelope to a peer.
    pub(crate) fn mark_sent(&self, id: [u8; 32]) {
        self.outbox
            .sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
    }

    /// `Queued` becomes `Sent` once the envelope was handed to gossip (kept in memory only).
    pub(crate) fn with_sent(&self, id: [u8; 32], delivery: Delivery) -> Delivery {
        let sent = self
            .outbox
            .sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id);
        match delivery {
            Delivery::Queued if sent => Delivery::Sent,
            other => other,
        }
    }

    /// Records how far `peer` holds local authors' envelopes (room, author, highest seq held with
    /// no gap) and tells the authors' clients which messages it newly covers.
    pub(crate) async fn record_holds(
        &self,
        peer: PeerId,
        holds: Vec<(RoomId, AccountId, u64)>,
    ) -> Result<(), StoreError> {
        let fresh: Vec<_> = {
            let mut known = self.outbox.known.lock().unwrap_or_else(|e| e.into_inner());
            holds
                .into_iter()
                .filter(|(room, author, hi)| {
                    let entry = known.entry((peer, *room, *author)).or_insert(0);
                    let newer = *hi > *entry;
                    *entry = (*entry).max(*hi);
                    newer
                })
                .collect()
        };
        if fresh.is_empty() {
            return Ok(());
        }
        let peer_name = peer.to_string();
        let changed = self
            .store
            .write(move |txn| {
                let mut changed = Vec::new();
                for (room, author, hi) in fresh {
                    for (id, _) in rows::record_hold(txn, &peer_name, &room.0, &author.0, hi)? {
                        if let Some(delivery) = rows::delivery(txn, &id)? {
                            changed.push((room, author, id, delivery));
                        }
                    }
                }
                Ok(changed)
            })
            .await?;
        let mut sent = self.outbox.sent.lock().unwrap_or_else(|e| e.into_inner());
        for (room, author, id, delivery) in changed {
            sent.remove(&id);
            self.bus.publish(NodeEvent::Delivery {
                room,
                author,
                id,
                delivery,
            });
        }
        Ok(())
    }
}

/// Hands queued envelopes to gossip and asks peers whether they hold them, until the token fires.
pub async fn run_outbox(rooms: Arc<Rooms>, shutdown: tokio_util::sync::CancellationToken) {
    let mut counted = std::time::Instant::now() - RETRY_EVERY;
    loop {
        tokio::select! {
            _ = rooms.outbox.wake.notified() => {}
            _ = tokio::time::sleep(RETRY_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
        // Counting scans the whole queue: at most once per RETRY_EVERY, not once per post.
        if counted.elapsed() >= RETRY_EVERY
            && let Ok(len) = rooms.store.read(rows::outbox_len).await
        {
            rooms.metrics.outbox.set(len as i64);
            counted = std::time::Instant::now();
        }
        if let Err(e) = look(&rooms).await {
            tracing::warn!(error = %e, "outbox look failed");
        }
        tokio::time::sleep(LOOK_GAP).await;
    }
}

async fn look(rooms: &Arc<Rooms>) -> Result<(), StoreError> {
    // Peers first: with nobody to hand envelopes to, the queue need not be read at all.
    let peers: Vec<PeerId> = match rooms.net.peers().await {
        Ok(peers) => peers
            .iter()
            .filter_map(|p| p.peer_id.parse().ok())
            .collect(),
        Err(_) => return Ok(()),
    };
    if peers.is_empty() {
        return Ok(());
    }
    let queued = rooms.store.read(|c| rows::outbox(c, BATCH)).await?;
    if queued.is_empty() {
        return Ok(());
    }
    let unsent: Vec<_> = {
        let sent = rooms.outbox.sent.lock().unwrap_or_else(|e| e.into_inner());
        queued
            .into_iter()
            .filter(|row| !sent.contains(&row.id))
            .collect()
    };
    for row in unsent {
        let id = row.id;
        let Some(bytes) = rooms.store.read(move |c| envelopes::bytes(c, &id)).await? else {
            continue;
        };
        if rooms
            .net
            .publish_envelope(topic_of(RoomId(row.room)), bytes)
            .await
            .is_ok()
        {
            rooms.mark_sent(id);
            rooms.bus.publish(NodeEvent::Delivery {
                room: RoomId(row.room),
                author: AccountId(row.author),
                id,
                delivery: Delivery::Sent,
            });
        }
    }
    tokio::time::sleep(ACK_DELAY).await;
    for peer in peers.into_iter().take(PEERS_ASKED) {
        rooms.request_sync(peer, "outbox");
    }
    Ok(())
}
