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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chatly_protocol::{AccountId, RoomId};
use libp2p::PeerId;

use super::Rooms;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::sync::{self as rows, Delivery, OutboxRow};
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
    /// Every envelope queued before this time (ms) was seen sent by a look: the looks between
    /// two full passes read the queue from here on (see [`next_start`]).
    seen_sent_before: AtomicU64,
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
        // Counting scans the whole queue, and so does a full pass: at most once per
        // RETRY_EVERY, not once per post.
        let full = counted.elapsed() >= RETRY_EVERY;
        if full {
            counted = std::time::Instant::now();
            if let Ok(len) = rooms.store.read(rows::outbox_len).await {
                rooms.metrics.outbox.set(len as i64);
            }
        }
        if let Err(e) = look(&rooms, full).await {
            tracing::warn!(error = %e, "outbox look failed");
        }
        tokio::time::sleep(LOOK_GAP).await;
    }
}

/// Hands unsent queued envelopes to gossip, then asks peers for their heads. A full pass reads
/// the queue from its oldest envelope; the others from where every older one was seen sent.
/// Under load the queue holds the last few hundred milliseconds of posts, nearly all sent
/// already, and every post wakes the outbox: reading all of it each time cost 1.8 % of the CPU
/// of a 2-node throughput run (docs/performance.md, "Session 20"). A full pass every
/// [`RETRY_EVERY`] still finds an envelope a wall clock set back queued "in the past".
async fn look(rooms: &Arc<Rooms>, full: bool) -> Result<(), StoreError> {
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
    let from = match full {
        true => 0,
        false => rooms.outbox.seen_sent_before.load(Ordering::SeqCst),
    };
    let queued = rooms
        .store
        .read(move |c| rows::outbox(c, from, BATCH))
        .await?;
    if queued.is_empty() {
        return Ok(());
    }
    let unsent: Vec<_> = {
        let sent = rooms.outbox.sent.lock().unwrap_or_else(|e| e.into_inner());
        let next = next_start(&queued, &sent, from);
        rooms.outbox.seen_sent_before.store(next, Ordering::SeqCst);
        queued
            .into_iter()
            .map(|(row, _)| row)
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

/// Where the next look that is not a full pass starts reading the queue, given the envelopes a
/// look read from `from` on (oldest first, each with when it was queued) and those sent: at the
/// oldest not sent yet, which stays to be handed to gossip; else at the newest read (those
/// queued in the same millisecond are read again, which costs a row or two). Every envelope
/// queued before the answer was seen sent.
fn next_start(queued: &[(OutboxRow, u64)], sent: &HashSet<[u8; 32]>, from: u64) -> u64 {
    queued
        .iter()
        .find(|(row, _)| !sent.contains(&row.id))
        .or(queued.last())
        .map_or(from, |(_, queued_at)| *queued_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: u8, at: u64) -> (OutboxRow, u64) {
        let row = OutboxRow {
            id: [id; 32],
            room: [0; 16],
            author: [0; 32],
            seq: u64::from(id),
        };
        (row, at)
    }

    #[test]
    fn the_next_look_starts_at_the_oldest_envelope_not_sent() {
        let read = [queued(1, 10), queued(2, 20), queued(3, 20), queued(4, 30)];
        let sent = |ids: &[u8]| ids.iter().map(|id| [*id; 32]).collect::<HashSet<_>>();
        assert_eq!(next_start(&read, &sent(&[1, 3, 4]), 5), 20, "2 is not sent");
        assert_eq!(next_start(&read, &sent(&[2, 3, 4]), 5), 10, "1 is not sent");
        assert_eq!(next_start(&read, &sent(&[1, 2, 3, 4]), 5), 30, "all sent");
        assert_eq!(next_start(&[], &sent(&[]), 5), 5, "nothing read");
    }
}
