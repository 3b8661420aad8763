//! The local write pipeline: how a local author's envelopes in one room get their sequence
//! numbers, chain positions and commits.
//!
//! Numbering must be serial (each envelope names its predecessor), committing need not be. Under
//! the author lock an envelope is numbered from [`AuthorState`] (the last envelope *queued*, not
//! the last committed), signed, checked and handed to the store writer; the lock is then released
//! and the caller waits for the commit alone. Posts that arrive together are therefore committed
//! together (group commit), and the 201 still means "committed and `fsync`ed".
//!
//! The writer applies jobs in the order they were queued, and each local job first checks that the
//! author's stored head is exactly its predecessor ([`store_local`]). If a commit fails, the
//! envelopes queued behind it fail the same way rather than leave a gap, and the author's state is
//! forgotten ([`Rooms::finish_local`]) so the next envelope is numbered from the store again.
//!
//! A post (public content or sealed content) is published *while* its commit is in flight when
//! its number is reserved: each local commit also stores "this author may publish up to seq + 1
//! before storing it" (`author_reservations`). A post numbered within the committed reservation
//! goes to the network at once; one beyond it (the first after a start, or a burst's later posts)
//! waits for its commit as before. Numbering from the store therefore starts above the
//! reservation, and a sender chain read from the store skips one position: a post published
//! but never stored (a crash, a failed commit) can have used that number and that key, and
//! neither may be handed out again (docs/protocol.md, "Crash safety"). Control operations, key
//! deliveries and account records are always stored before they are published.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chatly_crypto::SenderChain;
use chatly_protocol::{AccountId, EnvelopeId, Kind, RoomId};
use futures::future::BoxFuture;
use rusqlite::Transaction;

use super::opening;
use super::pipeline::{self, Applied, Checked};
use super::seal::{self, Rejection};
use super::states::RoomStates;
use super::{RoomError, Rooms};
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::{NetError, Topic};
use crate::store::{StoreError, envelopes, now_ms};

/// What the pipeline remembers of one local (room, author) between envelopes.
#[derive(Debug, Default)]
pub(crate) struct AuthorState {
    /// The newest envelope queued for commit, as (seq, id); `None`: ask the store.
    head: Option<(u64, EnvelopeId)>,
    /// The sender chain as the newest queued post left it, and whom it was delivered to;
    /// `None`: read it from the store.
    pub(crate) chain: Option<(SenderChain, Vec<[u8; 32]>)>,
    /// The store's count of full-disk failures when `head` was last read from the store: a post
    /// refused because one queued before it failed blames the disk if the count grew since.
    disk_full_mark: u64,
    /// The highest number whose reservation is committed: a post numbered up to it may be
    /// published before its own commit. Shared with queued envelopes, which raise it as they
    /// commit; a fresh state starts at 0 until the store is read.
    reserved: Arc<AtomicU64>,
}

/// Held while a local author numbers its next envelope in one room.
pub(crate) type AuthorLock = Arc<tokio::sync::Mutex<AuthorState>>;
/// Proof that the author lock is held, and access to the author's state.
pub(crate) type AuthorGuard = tokio::sync::OwnedMutexGuard<AuthorState>;

/// Work done in the transaction that stores a local envelope, and what to tell the event bus
/// once that transaction has committed.
pub(crate) type Also =
    Box<dyn FnOnce(&Transaction<'_>) -> Result<Option<NodeEvent>, StoreError> + Send>;

/// A local envelope handed to the store writer, not yet known to be committed.
pub(crate) struct Queued {
    checked: Checked,
    topic: Topic,
    commit: BoxFuture<'static, Result<StoredLocal, StoreError>>,
    author: AuthorLock,
    /// The author's `disk_full_mark` when this was queued.
    disk_full_before: u64,
    /// Published while its commit is in flight (its number was reserved).
    early: bool,
    /// The author's committed reservation, raised when this commits.
    reserved: Arc<AtomicU64>,
}

impl Rooms {
    /// Takes the lock that serialises a local author's envelopes in one room.
    pub(crate) async fn lock_author(&self, room: RoomId, author: AccountId) -> AuthorGuard {
        let lock = self
            .author_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((room, author))
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Publishes one envelope, holding the author lock only until it is queued.
    pub(crate) async fn publish_local(
        &self,
        author: AccountId,
        room: RoomId,
        topic: Topic,
        build: impl FnOnce(u64, EnvelopeId, u64) -> Result<seal::Verified, Rejection>,
    ) -> Result<Checked, RoomError> {
        let mut guard = self.lock_author(room, author).await;
        let checked = self.prepare_local(&guard, author, room, build).await?;
        let queued = self.queue_local(&mut guard, checked, topic, None);
        drop(guard);
        self.finish_local(queued).await
    }

    /// Numbers, builds, queues and commits one envelope while the caller holds the lock.
    pub(crate) async fn publish_locked(
        &self,
        guard: &mut AuthorGuard,
        author: AccountId,
        room: RoomId,
        topic: Topic,
        build: impl FnOnce(u64, EnvelopeId, u64) -> Result<seal::Verified, Rejection>,
    ) -> Result<Checked, RoomError> {
        let checked = self.prepare_local(guard, author, room, build).await?;
        let queued = self.queue_local(guard, checked, topic, None);
        let result = self.commit_and_publish(queued).await;
        if result.is_err() {
            // Renumber from the store (the caller holds the lock: reset through its guard).
            **guard = AuthorState::default();
        }
        result
    }

    /// Numbers the next envelope of (room, author) and builds and checks it; nothing is stored.
    pub(crate) async fn prepare_local(
        &self,
        guard: &AuthorGuard,
        author: AccountId,
        room: RoomId,
        build: impl FnOnce(u64, EnvelopeId, u64) -> Result<seal::Verified, Rejection>,
    ) -> Result<Checked, RoomError> {
        let (seq, prev) = match guard.head {
            Some((seq, id)) => (seq + 1, id),
            None => {
                let (head, reserved) = self
                    .store
                    .read(move |c| {
                        let head = envelopes::head(c, &room.0, &author.0)?;
                        Ok((head, envelopes::reserved(c, &room.0, &author.0)?))
                    })
                    .await?;
                guard.reserved.store(reserved, Ordering::SeqCst);
                let (stored, prev) =
                    head.map_or((0, EnvelopeId::ZERO), |(seq, id)| (seq, EnvelopeId(id)));
                // Numbers up to the reservation may have left the node unstored: skip them.
                (stored.max(reserved) + 1, prev)
            }
        };
        let now = now_ms();
        let verified = build(seq, prev, now).map_err(RoomError::Rejected)?;
        pipeline::check_own(verified, now).map_err(RoomError::Rejected)
    }

    /// Hands a prepared envelope (and `also`, run in the same transaction) to the store writer
    /// and makes it the author's head. The caller may release the lock once this returns.
    pub(crate) fn queue_local(
        &self,
        guard: &mut AuthorGuard,
        checked: Checked,
        topic: Topic,
        also: Option<Also>,
    ) -> Queued {
        let header = &checked.verified.envelope.header;
        if guard.head.is_none() {
            guard.disk_full_mark = self.store.disk_full_count();
        }
        guard.head = Some((header.seq, checked.verified.id));
        let early = matches!(header.kind, Kind::Content | Kind::Sealed)
            && header.seq <= guard.reserved.load(Ordering::SeqCst);
        let item = checked.clone();
        let disk_full_before = guard.disk_full_mark;
        let (unlocked, states, bus) = (self.vault.all(), self.states.clone(), self.bus.clone());
        // The events go on the bus from the writer thread as soon as the post commits, even if
        // the request that made it is gone by then (a client that disconnected).
        let commit = self.store.queue_write_then(
            move |txn| store_local(txn, &states, &item, now_ms(), also, &unlocked),
            move |(applied, announce): &StoredLocal| {
                // A room opened here already has its `Applied` event dropped (`store_local`).
                super::announce(
                    &bus,
                    std::slice::from_ref(applied),
                    &HashSet::new(),
                    announce,
                );
            },
        );
        Queued {
            checked,
            topic,
            commit: Box::pin(commit),
            author: tokio::sync::OwnedMutexGuard::mutex(guard).clone(),
            disk_full_before,
            early,
            reserved: guard.reserved.clone(),
        }
    }

    /// Waits for a queued envelope's commit, then announces and publishes it; the caller no
    /// longer holds the author lock. If the commit failed, the author's state is reset, so the
    /// next envelope is numbered from the store (what was queued behind this one fails its head
    /// check).
    pub(crate) async fn finish_local(&self, queued: Queued) -> Result<Checked, RoomError> {
        let author = queued.author.clone();
        let result = self.commit_and_publish(queued).await;
        if result.is_err() {
            *author.lock().await = AuthorState::default();
        }
        result
    }

    /// Waits for a queued envelope's commit and announces it; publishes it after the commit, or
    /// during it when its number was reserved. Publishing with no peer connected still succeeds:
    /// the envelope is in the outbox.
    async fn commit_and_publish(&self, queued: Queued) -> Result<Checked, RoomError> {
        let Queued {
            checked,
            topic,
            commit,
            disk_full_before,
            early,
            reserved,
            ..
        } = queued;
        let seq = checked.verified.envelope.header.seq;
        // The commit was queued first, so the writer stores the envelope before anything the
        // network may bring back because of it (a sync round fetching it from a peer).
        let (committed, published) = if early {
            let publishing = self
                .net
                .publish_envelope(topic, checked.verified.bytes.clone());
            let (committed, published) = tokio::join!(commit, publishing);
            (committed, Some(published))
        } else {
            (commit.await, None)
        };
        // `store_local` reserved the next number with the envelope, in the same commit.
        if let Ok((Applied::Stored(_), _)) = &committed {
            reserved.fetch_max(seq + 1, Ordering::SeqCst);
        }
        // Its events are on the bus already (`queue_local`).
        match committed {
            Ok((Applied::Stored(_), _)) => {}
            Ok((Applied::NotMember, _)) => {
                return Err(RoomError::Forbidden("not a member of this room".into()));
            }
            // One queued before it failed to commit: say why when the disk was full.
            Ok((Applied::NotNext, _)) if self.store.disk_full_count() > disk_full_before => {
                return Err(StoreError::DiskFull.into());
            }
            Ok(_) => return Err(RoomError::Conflict),
            Err(e) => return Err(e.into()),
        }
        self.metrics.messages_out.inc();
        let published = match published {
            Some(published) => published,
            None => {
                self.net
                    .publish_envelope(topic, checked.verified.bytes.clone())
                    .await
            }
        };
        match published {
            Ok(()) => self.mark_sent(checked.verified.id.0),
            Err(NetError::NoPeers) => {}
            Err(e) => tracing::warn!(error = %e, "publish failed; the envelope is queued"),
        }
        self.outbox.wake.notify_one();
        Ok(checked)
    }
}

/// What storing a local envelope did, and the other events to announce once committed: what
/// `also` asked for, then what local accounts opened of it.
type StoredLocal = (Applied, Vec<NodeEvent>);

/// Stores a local envelope, queues it in the outbox, raises the author's reservation to the next
/// number and runs `also`, all in the writer's transaction: an acknowledged post is durable and
/// queued, or neither. Refused (as a conflict) unless the author's stored head is the envelope's
/// predecessor (`prev`; none when it is zero).
///
/// Sealed content and key deliveries are then opened for the `unlocked` local accounts in the
/// same transaction, as arrivals from peers are (`opening::open_arrivals`): the other members
/// on this node read the post at once, and no separate opening pass is needed for it.
fn store_local(
    txn: &Transaction<'_>,
    states: &RoomStates,
    checked: &Checked,
    now: u64,
    also: Option<Also>,
    unlocked: &[Arc<UnlockedKeys>],
) -> Result<StoredLocal, StoreError> {
    let header = &checked.verified.envelope.header;
    let head = envelopes::head(txn, &header.room.0, &header.author.0)?.map(|(_, id)| id);
    let expected = (header.prev != EnvelopeId::ZERO).then_some(header.prev.0);
    if head != expected {
        return Ok((Applied::NotNext, Vec::new()));
    }
    let mut outcome = pipeline::apply(txn, states, checked, now)?;
    let mut announce = Vec::new();
    if matches!(outcome, Applied::Stored(_)) {
        crate::store::sync::outbox_add(
            txn,
            &crate::store::sync::OutboxRow {
                id: checked.verified.id.0,
                room: header.room.0,
                author: header.author.0,
                seq: header.seq,
            },
            now,
        )?;
        envelopes::reserve(txn, &header.room.0, &header.author.0, header.seq + 1)?;
        if let Applied::Stored(Some(event)) = &mut outcome
            && let NodeEvent::MessageCreated { posted_here, .. } = &mut **event
        {
            *posted_here = true;
        }
        if let Some(also) = also {
            announce.extend(also(txn)?);
        }
    }
    if let Applied::Stored(Some(event)) = &outcome
        && let NodeEvent::RoomData(room) = **event
    {
        // The author's own copy was stored by `also`, so only the other local accounts have
        // something to open (a pass for the author would find nothing new and cost a savepoint
        // and a dozen statements per post; its next pass counts the post as already opened).
        let others: Vec<Arc<UnlockedKeys>> = unlocked
            .iter()
            .filter(|keys| keys.account_id() != header.author)
            .cloned()
            .collect();
        let (handled, events) =
            opening::open_arrivals(txn, states, &others, &HashSet::from([room]));
        if handled.contains(&room) {
            outcome = Applied::Stored(None);
        }
        announce.extend(events);
    }
    Ok((outcome, announce))
}
