//! Rooms: what the node does with envelopes.
//!
//! - [`seal`]: signing and verifying envelopes and account records (protocol meets crypto here only).
//! - [`pipeline`]: the validation pipeline shared by gossip, sync and local posts.
//! - [`ratelimit`]: per-author token buckets.
//! - [`Rooms`]: publishing for local accounts, and the ingest task that validates gossip in
//!   batches (one store transaction per batch) and reports Accept / Reject / Ignore to gossipsub.

pub mod groups;
pub mod membership;
pub mod opening;
pub mod pipeline;
pub mod ratelimit;
pub mod seal;
pub mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatly_crypto::IdentityKey;
use chatly_protocol::{AccountId, Content, EnvelopeId, Header, Kind, RoomId};
use libp2p::gossipsub::MessageAcceptance;
use tokio::sync::mpsc;

use crate::accounts::UnlockedKeys;
use crate::events::{EventBus, NodeEvent};
use crate::metrics::Metrics;
use crate::net::{self, NetError, NetEvent, Topic};
use crate::store::messages::MessageRow;
use crate::store::users::UserRow;
use crate::store::{Store, StoreError, envelopes, now_ms, users};
use pipeline::{Applied, Checked, Derived};
use ratelimit::RateLimiter;
pub use seal::{Profile, Rejection};

/// Most gossip envelopes validated and stored together.
const INGEST_BATCH: usize = 256;

/// Errors of the rooms boundary.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The envelope failed validation (a local bug or bad input).
    #[error("rejected: {0:?}")]
    Rejected(Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Same author and sequence number already used with other content.
    #[error("sequence conflict")]
    Conflict,
    /// The author may not do this in this room.
    #[error("{0}")]
    Forbidden(String),
}

/// Held while a local author signs and stores its next envelope in one room.
type AuthorLock = Arc<tokio::sync::Mutex<()>>;
/// Proof that the author lock is held.
pub(crate) type AuthorGuard = tokio::sync::OwnedMutexGuard<()>;

/// The rooms service.
pub struct Rooms {
    store: Store,
    net: net::Handle,
    bus: EventBus,
    metrics: Arc<Metrics>,
    node_key: IdentityKey,
    /// Unlocked local accounts, which open sealed content as it arrives.
    pub(crate) vault: Arc<crate::accounts::Vault>,
    /// Serialises local publishing per (room, author) so sequence numbers never collide.
    author_locks: Mutex<HashMap<(RoomId, AccountId), AuthorLock>>,
}

impl Rooms {
    /// The service; `node_key` co-signs account records.
    pub fn new(
        store: Store,
        net: net::Handle,
        bus: EventBus,
        metrics: Arc<Metrics>,
        node_key: IdentityKey,
        vault: Arc<crate::accounts::Vault>,
    ) -> Self {
        Self {
            vault,
            store,
            net,
            bus,
            metrics,
            node_key,
            author_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Posts content to the public room as a local account; durable before it returns.
    pub async fn post_public(
        &self,
        keys: &UnlockedKeys,
        content: Content,
    ) -> Result<MessageRow, RoomError> {
        let body = content
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
        let checked = self
            .publish_local(
                keys.account_id(),
                RoomId::PUBLIC,
                Topic::Public,
                |seq, prev, now| {
                    seal::seal(
                        &keys.identity,
                        Header::plain(
                            Kind::Content,
                            RoomId::PUBLIC,
                            keys.account_id(),
                            seq,
                            prev,
                            now,
                        ),
                        body,
                    )
                },
            )
            .await?;
        match checked.derived {
            Derived::Message(row) => Ok(row),
            _ => Err(RoomError::Rejected(Rejection::Invalid(
                "not a message".into(),
            ))),
        }
    }

    /// Publishes a new version of a local account's record.
    pub async fn publish_profile(
        &self,
        keys: &UnlockedKeys,
        profile: &Profile,
    ) -> Result<UserRow, RoomError> {
        let checked = self
            .publish_local(
                keys.account_id(),
                RoomId::DIRECTORY,
                Topic::Directory,
                |seq, prev, now| {
                    seal::account_record(keys, &self.node_key, profile, seq, prev, now)
                },
            )
            .await?;
        match checked.derived {
            Derived::User(row) => Ok(row),
            _ => Err(RoomError::Rejected(Rejection::Invalid(
                "not an account record".into(),
            ))),
        }
    }

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

    /// Takes the author lock and publishes one envelope.
    async fn publish_local(
        &self,
        author: AccountId,
        room: RoomId,
        topic: Topic,
        build: impl FnOnce(u64, EnvelopeId, u64) -> Result<seal::Verified, Rejection>,
    ) -> Result<Checked, RoomError> {
        let guard = self.lock_author(room, author).await;
        self.publish_locked(&guard, author, room, topic, build)
            .await
    }

    /// Signs the next envelope of (room, author), runs it through the pipeline, stores it, then
    /// publishes it. Publishing with no peer connected still succeeds: the envelope is stored.
    /// The caller holds the author lock (the guard proves it).
    pub(crate) async fn publish_locked(
        &self,
        _guard: &AuthorGuard,
        author: AccountId,
        room: RoomId,
        topic: Topic,
        build: impl FnOnce(u64, EnvelopeId, u64) -> Result<seal::Verified, Rejection>,
    ) -> Result<Checked, RoomError> {
        let head = self
            .store
            .read(move |c| envelopes::head(c, &room.0, &author.0))
            .await?;
        let (seq, prev) = head.map_or((1, EnvelopeId::ZERO), |(seq, id)| (seq + 1, EnvelopeId(id)));
        let now = now_ms();
        let verified = build(seq, prev, now).map_err(RoomError::Rejected)?;
        let checked = pipeline::check(verified.bytes, now, None).map_err(RoomError::Rejected)?;
        let applied = self.store_checked(vec![checked.clone()], now).await?.pop();
        match applied {
            Some(Applied::Stored(_)) => {}
            None => return Err(RoomError::Conflict),
            Some(Applied::Duplicate | Applied::Equivocation) => return Err(RoomError::Conflict),
            Some(Applied::NotMember) => {
                return Err(RoomError::Forbidden("not a member of this room".into()));
            }
        }
        self.metrics.messages_out.inc();
        match self
            .net
            .publish(topic, checked.verified.bytes.clone())
            .await
        {
            Ok(()) | Err(NetError::NoPeers) => {}
            Err(e) => tracing::warn!(error = %e, "publish failed; the envelope is stored"),
        }
        Ok(checked)
    }

    /// Stores checked envelopes in one transaction and publishes the events of those stored.
    pub(crate) async fn store_checked(
        &self,
        items: Vec<Checked>,
        now: u64,
    ) -> Result<Vec<Applied>, StoreError> {
        let applied = self
            .store
            .write(move |txn| {
                items
                    .iter()
                    .map(|c| pipeline::apply(txn, c, now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        for outcome in &applied {
            if let Applied::Stored(Some(event)) = outcome {
                self.bus.publish((**event).clone());
            }
        }
        Ok(applied)
    }

    /// The directory entry of an account.
    pub async fn user(&self, id: AccountId) -> Result<Option<UserRow>, StoreError> {
        self.store.read(move |c| users::get(c, &id.0)).await
    }
}

/// Validates gossip in batches until the network's event stream ends.
pub async fn run_ingest(
    mut events: mpsc::Receiver<NetEvent>,
    rooms: Arc<Rooms>,
    author_rate: (f64, f64),
) {
    let limiter = Arc::new(Mutex::new(RateLimiter::new(author_rate.0, author_rate.1)));
    let mut batch = Vec::with_capacity(INGEST_BATCH);
    while events.recv_many(&mut batch, INGEST_BATCH).await > 0 {
        let mut gossip = Vec::new();
        for event in batch.drain(..) {
            match event {
                NetEvent::Gossip {
                    source, id, data, ..
                } => gossip.push((source, id, data)),
                NetEvent::PeerCount(n) => {
                    rooms.metrics.connected_peers.set(n as i64);
                    rooms.bus.publish(NodeEvent::PeerCount(n));
                }
                NetEvent::PeerConnected(peer) => {
                    let rooms = rooms.clone();
                    tokio::spawn(async move {
                        if let Err(e) = rooms.sync_with(peer).await {
                            tracing::debug!(%peer, error = %e, "sync round failed");
                        }
                    });
                }
                NetEvent::SyncRequest {
                    peer,
                    data,
                    channel,
                } => {
                    let rooms = rooms.clone();
                    tokio::spawn(async move { rooms.serve_sync(peer, data, channel).await });
                }
            }
        }
        if !gossip.is_empty() {
            ingest_gossip(&rooms, gossip, &limiter).await;
        }
    }
}

async fn ingest_gossip(
    rooms: &Rooms,
    gossip: Vec<(libp2p::PeerId, libp2p::gossipsub::MessageId, Vec<u8>)>,
    limiter: &Arc<Mutex<RateLimiter<[u8; 32]>>>,
) {
    let now = now_ms();
    let mut accepted = Vec::new();
    // Signature checks are CPU work: do them off the async runtime.
    let limiter = limiter.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut limiter = limiter.lock().unwrap_or_else(|e| e.into_inner());
        gossip
            .into_iter()
            .map(|(source, id, data)| (source, id, pipeline::check(data, now, Some(&mut limiter))))
            .collect::<Vec<_>>()
    })
    .await;
    let Ok(checked) = checked else {
        tracing::error!("validation task failed");
        return;
    };
    for (source, id, result) in checked {
        match result {
            Ok(checked) => accepted.push((source, id, checked)),
            Err(rejection) => {
                rooms.metrics.validation(&rejection);
                tracing::debug!(peer = %source, ?rejection, "gossip not accepted");
                rooms.net.report(id, source, acceptance(&rejection));
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    let items: Vec<Checked> = accepted.iter().map(|(_, _, c)| c.clone()).collect();
    let applied = match rooms.store_checked(items, now).await {
        Ok(applied) => applied,
        Err(e) => {
            tracing::error!(error = %e, "could not store gossip; it will be fetched again");
            for (source, id, _) in accepted {
                rooms.net.report(id, source, MessageAcceptance::Ignore);
            }
            return;
        }
    };
    for ((source, id, _), applied) in accepted.into_iter().zip(applied) {
        let verdict = match applied {
            Applied::Stored(_) => {
                rooms.metrics.messages_in.inc();
                MessageAcceptance::Accept
            }
            Applied::Duplicate => MessageAcceptance::Ignore,
            Applied::Equivocation | Applied::NotMember => MessageAcceptance::Reject,
        };
        rooms.metrics.validation_result(verdict_name(&verdict));
        rooms.net.report(id, source, verdict);
    }
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
