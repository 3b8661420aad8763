//! The ingest task: gossip validated in batches, one store transaction per batch, verdicts
//! reported to gossipsub; network events that start sync rounds.
//!
//! A gossip message carries one envelope or a bundle of them (`chatly_protocol::bundle`); each
//! envelope is checked and stored as if it came alone, and the message's one verdict is the
//! worst of theirs: invalid if any is, accepted if any was stored, ignored otherwise.
//!
//! A message crosses as few threads as it can: a message or two is checked on this task and
//! stored right here when the store's writer is idle (`Store::write_relaxed_shown_first`); a
//! larger batch is checked on a blocking thread, which queues its store job itself. What was
//! stored goes on the event bus at once: a batch stored here as soon as its job ran, before its
//! commit, which waits until the sockets had their turn (any read commits it first); a batch
//! queued for the writer thread as soon as it committed. This task only hears the outcome, for
//! the verdicts and the gaps.
//!
//! An envelope stored above a gap (the predecessor its author names, `prev`, is not held) starts a
//! sync round with the peer that sent it if gossip has not filled the gap a moment later
//! ([`GAP_GRACE`]): that peer has probably seen the missing one. Sealed
//! content for unlocked local members is opened in the same transaction that stores it
//! ([`opening::open_arrivals_to_store`], its own stores left for after the show); what came by
//! sync is left to the opener task.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chatly_protocol::{EnvelopeId, RoomId};
use futures::future::Either;
use libp2p::gossipsub::MessageAcceptance;
use tokio::sync::mpsc;

use super::opening;
use super::pipeline::{self, Applied, Checked, Derived};
use super::ratelimit::RateLimiter;
use super::seal::Verified;
use super::states::RoomStates;
use super::{Rejection, Rooms};
use crate::events::NodeEvent;
use crate::net::{NetEvent, Service, Topic};
use crate::store::{StoreError, envelopes, now_ms};

/// Most gossip envelopes validated and stored together.
const INGEST_BATCH: usize = 256;

/// Largest batch (payload bytes) whose signatures are checked on the ingest task itself rather
/// than on the blocking pool: one or two envelopes, at most a few signatures of about 60 µs each,
/// short enough not to hold up the runtime's other tasks. In a 10-node mesh this took 6 % off the
/// CPU per message and 0.9 ms off the p99 delay (docs/performance.md, "Session 15").
const CHECK_HERE_BYTES: usize = 1_536;

/// Turns of the scheduler a batch's relaying waits for. A yielding task resumes only after its
/// worker has run what it had queued and polled the network once more, so each turn lets what is
/// already runnable, and what the network brought meanwhile, go first. In a 10-node mesh on 2
/// cores, one turn (this node's sockets first) took the middle receiver's delay down by 1 ms
/// ("Session 18"); four (the other receivers' checks and sockets as well) took the p99 down by
/// 11 % (public room) and 8 % (encrypted group) more, and sixteen did no better than four
/// (docs/performance.md, "Session 26"). On a node with a machine of its own a turn takes
/// microseconds.
const RELAY_TURNS: usize = 4;

/// Validates gossip in batches until the network's event stream ends.
pub async fn run_ingest(
    mut events: mpsc::Receiver<NetEvent>,
    rooms: Arc<Rooms>,
    signals: mpsc::Sender<crate::signals::SignalGossip>,
    files: Arc<crate::files::Files>,
    author_rate: (f64, f64),
) {
    let limiter = Arc::new(Mutex::new(RateLimiter::new(author_rate.0, author_rate.1)));
    let mut batch = Vec::with_capacity(INGEST_BATCH);
    while events.recv_many(&mut batch, INGEST_BATCH).await > 0 {
        let mut gossip = Vec::new();
        for event in batch.drain(..) {
            match event {
                NetEvent::Gossip {
                    source,
                    id,
                    data,
                    topic: Topic::Signals,
                } => {
                    if let Err(e) = signals.try_send((source, id, data)) {
                        // Signals are ephemeral: under overload they are dropped, not queued.
                        let (source, id, _) = e.into_inner();
                        rooms.net.report(id, source, MessageAcceptance::Ignore);
                    }
                }
                NetEvent::Gossip {
                    source, id, data, ..
                } => gossip.push((source, id, data)),
                NetEvent::PeerCount(n) => {
                    rooms.metrics.connected_peers.set(n as i64);
                    rooms.bus.publish(NodeEvent::PeerCount(n));
                }
                NetEvent::PeerConnected(peer) => {
                    rooms.request_sync(peer, "new connection");
                    rooms.outbox.wake.notify_one();
                }
                NetEvent::Request {
                    service: Service::Sync,
                    peer,
                    data,
                    channel,
                } => {
                    let rooms = rooms.clone();
                    tokio::spawn(async move { rooms.serve_sync(peer, data, channel).await });
                }
                NetEvent::Request {
                    service: Service::Files,
                    peer,
                    data,
                    channel,
                } => {
                    let files = files.clone();
                    tokio::spawn(async move { files.serve(peer, data, channel).await });
                }
            }
        }
        if !gossip.is_empty() {
            ingest_gossip(&rooms, gossip, &limiter).await;
        }
    }
}

/// A gossip message as it came: who sent it, gossipsub's id, the payload (one envelope or a
/// bundle of them).
type Gossip = (libp2p::PeerId, libp2p::gossipsub::MessageId, Vec<u8>);

/// What the writer reports for a batch of checked gossip: each envelope's outcome, whether it
/// sits above a gap, and the rooms and events of what was opened on arrival.
type StoredGossip = (Vec<Applied>, Vec<bool>, (HashSet<RoomId>, Vec<NodeEvent>));

/// A gossip message's verdict so far, and where it came from.
struct Verdict {
    source: libp2p::PeerId,
    id: libp2p::gossipsub::MessageId,
    acceptance: MessageAcceptance,
}

impl Verdict {
    /// Adds an envelope that failed its checks.
    fn reject(&mut self, rejection: &Rejection, metrics: &crate::metrics::Metrics) {
        metrics.validation(rejection);
        tracing::debug!(peer = %self.source, ?rejection, "gossip not accepted");
        self.add(acceptance(rejection));
    }

    /// Adds one envelope's verdict: a message is invalid if any envelope it carries is, accepted
    /// if any was stored, ignored otherwise (a single envelope's verdict is its own).
    fn add(&mut self, acceptance: MessageAcceptance) {
        use MessageAcceptance::{Accept, Reject};
        self.acceptance = match (&self.acceptance, acceptance) {
            (Reject, _) | (_, Reject) => Reject,
            (Accept, _) | (_, Accept) => Accept,
            _ => MessageAcceptance::Ignore,
        };
    }
}

/// The envelopes a gossip payload carries, owned; the payload itself when it is one envelope.
fn envelopes_of(payload: Vec<u8>) -> Result<Vec<Vec<u8>>, Rejection> {
    let split = chatly_protocol::bundle::gossip_envelopes(&payload)
        .map_err(|e| Rejection::Invalid(format!("malformed gossip bundle: {e}")))?;
    if split.len() == 1 {
        return Ok(vec![payload]);
    }
    Ok(split.into_iter().map(<[u8]>::to_vec).collect())
}

async fn ingest_gossip(
    rooms: &Arc<Rooms>,
    gossip: Vec<Gossip>,
    limiter: &Arc<Mutex<RateLimiter<[u8; 32]>>>,
) {
    let now = now_ms();
    // Signature checks are CPU work: do them off the async runtime, except for a small batch (a
    // message or two, the usual case in a quiet room), whose hop to the blocking pool and back
    // costs more than its few signatures. Whoever checks a batch also stores it or queues its
    // store job, without another round trip through this task.
    let inline = gossip.iter().map(|(_, _, data)| data.len()).sum::<usize>() <= CHECK_HERE_BYTES;
    let limiter = limiter.clone();
    let (store, vault, bus) = (rooms.store.clone(), rooms.vault.clone(), rooms.bus.clone());
    let (states, metrics) = (rooms.states.clone(), rooms.metrics.clone());
    let check = move || {
        let mut limiter = limiter.lock().unwrap_or_else(|e| e.into_inner());
        let mut verdicts = Vec::with_capacity(gossip.len());
        // Every envelope of every message, with the index of the message that brought it, by
        // the peer that forwarded it: each peer's envelopes have their signatures checked in one
        // batch, so a bad signature sends only its own sender's batch back to one-by-one checks.
        let mut carried: HashMap<libp2p::PeerId, Vec<(usize, Vec<u8>)>> = HashMap::new();
        for (message, (source, id, data)) in gossip.into_iter().enumerate() {
            let mut verdict = Verdict {
                source,
                id,
                acceptance: MessageAcceptance::Ignore,
            };
            match envelopes_of(data) {
                Ok(envelopes) => carried
                    .entry(source)
                    .or_default()
                    .extend(envelopes.into_iter().map(|e| (message, e))),
                Err(rejection) => verdict.reject(&rejection, &metrics),
            }
            verdicts.push(verdict);
        }
        // Each checked envelope with the index of the message that brought it.
        let mut accepted: Vec<(usize, Checked)> = Vec::new();
        for (_, envelopes) in carried {
            let (messages, payloads): (Vec<usize>, Vec<Vec<u8>>) = envelopes.into_iter().unzip();
            let checks = pipeline::check_many(payloads, now, Some(&mut limiter));
            for (message, check) in messages.into_iter().zip(checks) {
                match check {
                    Ok(checked) => accepted.push((message, checked)),
                    Err(rejection) => verdicts[message].reject(&rejection, &metrics),
                }
            }
        }
        // Stored in the order they came (a stable sort keeps each message's own order), so an
        // author's envelopes go in by sequence and none looks like it follows a gap.
        accepted.sort_by_key(|(message, _)| *message);
        // Shared with the store job rather than copied: the verdicts need them afterwards.
        let (messages, items): (Vec<usize>, Vec<Checked>) = accepted.into_iter().unzip();
        let items = Arc::new(items);
        let job_items = items.clone();
        // A message or two checked on this task is also stored here when the writer is idle:
        // the hops to the writer thread and back cost more than its job (docs/performance.md,
        // "Session 25"). A larger batch, checked on the blocking pool, goes to the writer,
        // which folds it with whatever else waits (storing it on the blocking thread cost a few
        // per cent of throughput). What was stored goes on the event bus as soon as it is
        // committed, wherever that happened: the sockets get it without waiting for this task.
        let stored = (!items.is_empty()).then(move || {
            let job = move |txn: &rusqlite::Transaction<'_>| {
                store_gossip(txn, &states, &job_items, now, &vault)
            };
            let then = move |(applied, _, (opened_rooms, opened_events)): &StoredGossip| {
                super::announce(&bus, applied, opened_rooms, opened_events);
            };
            if inline {
                Either::Left(store.write_relaxed_shown_first(job, then))
            } else {
                Either::Right(store.queue_write_relaxed_then(job, then))
            }
        });
        (verdicts, messages, items, stored)
    };
    let checked = if inline {
        Ok(check())
    } else {
        tokio::task::spawn_blocking(check).await
    };
    let Ok((mut verdicts, messages, items, stored)) = checked else {
        tracing::error!("validation task failed");
        return;
    };
    // Relaying is the least urgent work a stored message leaves: its author published it to
    // every subscribed peer it is connected to (flood publish), so wherever peers are connected
    // to the author, as in a small mesh, the copies relayed here arrive as duplicates; where
    // they are not, the relay waits a few turns of the scheduler ([`RELAY_TURNS`]). Meanwhile
    // the tasks told of what was stored, the event sockets of this node's accounts, show it, and
    // on a host shared with other nodes their checks and sockets go first too. What was stored
    // here and shown before its commit commits after these turns, when `stored` is awaited.
    for _ in 0..RELAY_TURNS {
        tokio::task::yield_now().await;
    }
    let mut gaps = Vec::new();
    if let Some(stored) = stored {
        match stored.await {
            Ok((applied, above_gap, _)) => {
                for ((message, checked), (applied, above_gap)) in messages
                    .into_iter()
                    .zip(items.iter())
                    .zip(applied.into_iter().zip(above_gap))
                {
                    let verdict = &mut verdicts[message];
                    if above_gap {
                        gaps.push((verdict.source, checked.verified.envelope.header.prev.0));
                    }
                    let acceptance = applied_acceptance(rooms, checked, &applied);
                    rooms.metrics.validation_result(verdict_name(&acceptance));
                    verdict.add(acceptance);
                }
            }
            // Reported as ignored (unless invalid): not relayed, and fetched again by sync.
            Err(e) => {
                tracing::error!(error = %e, "could not store gossip; it will be fetched again")
            }
        }
    }
    for verdict in verdicts {
        rooms
            .net
            .report(verdict.id, verdict.source, verdict.acceptance);
    }
    if !gaps.is_empty() {
        tokio::spawn(sync_gaps_left_open(rooms.clone(), gaps));
    }
}

/// An envelope's verdict from what storing it did; counts it when stored.
fn applied_acceptance(rooms: &Rooms, checked: &Checked, applied: &Applied) -> MessageAcceptance {
    match applied {
        Applied::Stored(_) => {
            let header = &checked.verified.envelope.header;
            rooms.metrics.messages_in.inc();
            rooms
                .metrics
                .delivery_seconds
                .observe(now_ms().saturating_sub(header.timestamp_ms) as f64 / 1000.0);
            MessageAcceptance::Accept
        }
        Applied::Duplicate | Applied::NotNext => MessageAcceptance::Ignore,
        Applied::Equivocation | Applied::NotMember => MessageAcceptance::Reject,
    }
}

/// How long gossip gets to fill a gap before a sync round is started for it. Under load, gossip
/// often brings an author's envelopes out of order (each from whichever mesh peer was first); a
/// round started at once would fetch, and verify, what is already on its way.
pub const GAP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// After [`GAP_GRACE`], starts a sync round with each peer that relayed an envelope whose
/// predecessor is still not held.
async fn sync_gaps_left_open(rooms: Arc<Rooms>, gaps: Vec<(libp2p::PeerId, [u8; 32])>) {
    tokio::time::sleep(GAP_GRACE).await;
    let open = rooms
        .store
        .read(move |c| {
            let mut peers = HashSet::new();
            for (peer, prev) in gaps {
                if !peers.contains(&peer) && !envelopes::contains(c, &prev)? {
                    peers.insert(peer);
                }
            }
            Ok(peers)
        })
        .await;
    match open {
        Ok(peers) => {
            for peer in peers {
                rooms.request_sync(peer, "gap");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not look for gaps"),
    }
}

/// Stores a batch of checked gossip in the writer's transaction; sealed content for unlocked
/// local members is opened right there rather than handed to the opener task, and what was
/// opened is stored after the show (`store::write_after_show`). The accounts are
/// the ones unlocked when this job runs: one unlocked later gets the opener's full pass, which
/// the writer runs after this job.
fn store_gossip(
    txn: &rusqlite::Transaction<'_>,
    states: &RoomStates,
    items: &[Checked],
    now: u64,
    vault: &crate::accounts::Vault,
) -> Result<StoredGossip, StoreError> {
    // A lone public message or sealed envelope is decided by reading and its rows written
    // after the show.
    let lone = match items {
        [item] if pipeline::deferrable(item) => Some(item),
        _ => None,
    };
    let applied = match lone {
        Some(item) => vec![pipeline::apply_deferred(txn, states, item, now)?],
        None => pipeline::apply_all(txn, states, items, now)?,
    };
    let above_gap = items
        .iter()
        .zip(&applied)
        .map(|(checked, applied)| {
            let header = &checked.verified.envelope.header;
            // The predecessor the author names, not seq − 1: numbers an author skipped after a
            // crash are no gap (docs/protocol.md, "Crash safety").
            Ok(matches!(applied, Applied::Stored(_))
                && header.prev != EnvelopeId::ZERO
                && !envelopes::contains(txn, &header.prev.0)?)
        })
        .collect::<Result<Vec<bool>, StoreError>>()?;
    let arrived: HashSet<RoomId> = items
        .iter()
        .zip(&applied)
        .filter(|(checked, applied)| {
            matches!(checked.derived, Derived::RoomData) && matches!(applied, Applied::Stored(_))
        })
        .map(|(checked, _)| checked.verified.envelope.header.room)
        .collect();
    // A lone sealed envelope is not in the store yet: the opening pass takes it as it came.
    let unstored: Vec<&Verified> = match (lone, applied.as_slice()) {
        (Some(item), [Applied::Stored(_)]) if matches!(item.derived, Derived::RoomData) => {
            vec![&item.verified]
        }
        _ => Vec::new(),
    };
    // What was opened is stored after the show: the events are made, and nothing read before
    // the commit needs the opened rows (a read after the show commits them first).
    let (handled, events, passes) =
        opening::open_arrivals_to_store(txn, states, &vault.all(), &arrived, &unstored);
    if !passes.is_empty() {
        crate::store::write_after_show(move |conn| {
            passes.iter().try_for_each(|pass| pass.store(conn))
        });
    }
    Ok((applied, above_gap, (handled, events)))
}

fn acceptance(rejection: &Rejection) -> MessageAcceptance {
    match rejection {
        Rejection::Invalid(_) => MessageAcceptance::Reject,
        Rejection::Ignored(_) => MessageAcceptance::Ignore,
    }
}

fn verdict_name(verdict: &MessageAcceptance) -> &'static str {
    match verdict {
        MessageAcceptance::Accept => "accept",
        MessageAcceptance::Reject => "reject",
        MessageAcceptance::Ignore => "ignore",
    }
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
