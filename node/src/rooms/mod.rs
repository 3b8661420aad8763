//! Rooms: what the node does with envelopes.
//!
//! - [`seal`]: signing and verifying envelopes and account records (protocol meets crypto here only).
//! - [`pipeline`]: the validation pipeline shared by gossip, sync and local posts.
//! - [`ratelimit`]: per-author token buckets.
//! - [`Rooms`]: publishing for local accounts through the write pipeline of [`author`]
//!   (stored and queued in the [`outbox`] in one transaction), and [`run_ingest`], which validates gossip in batches (one store transaction
//!   per batch) and reports Accept / Reject / Ignore to gossipsub.
//! - [`groups`], [`sending`], [`opening`], [`membership`]: encrypted group and direct rooms;
//!   [`states`]: their resolved states, kept between reads.
//! - [`sync`]: catching up what gossip missed; [`outbox`]: delivery confirmation.

mod author;
pub mod groups;
mod ingest;
pub use chatly_protocol::membership;
pub mod opened;
pub mod opener;
pub mod opening;
pub mod ops;
pub mod outbox;
pub mod pipeline;
pub mod ratelimit;
pub mod records;
pub mod seal;
mod sending;
pub mod states;
pub mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chatly_crypto::IdentityKey;
use chatly_protocol::{AccountId, Content, Header, Kind, RoomId};

use crate::accounts::UnlockedKeys;
use crate::events::{EventBus, NodeEvent};
use crate::metrics::Metrics;
use crate::net::{self, Topic};
use crate::store::messages::MessageRow;
use crate::store::users::UserRow;
use crate::store::{Store, StoreError, users};
pub use ingest::run_ingest;
use pipeline::{Applied, Checked, Derived};
pub use seal::{Profile, Rejection};

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

use author::AuthorLock;
pub(crate) use author::{Also, AuthorGuard};

/// The rooms service: publishing, the pipeline, sync and the outbox.
pub struct Rooms {
    pub(crate) store: Store,
    pub(crate) net: net::Handle,
    pub(crate) bus: EventBus,
    pub(crate) metrics: Arc<Metrics>,
    node_key: IdentityKey,
    /// Unlocked local accounts, which open sealed content as it arrives.
    pub(crate) vault: Arc<crate::accounts::Vault>,
    /// Serialises local publishing per (room, author) so sequence numbers never collide.
    author_locks: Mutex<HashMap<(RoomId, AccountId), AuthorLock>>,
    /// Sync rounds in flight.
    pub(crate) flights: sync::Flights,
    /// Delivery tracking of local envelopes.
    pub(crate) outbox: outbox::OutboxState,
    /// Resolved room states, kept between reads.
    pub(crate) states: Arc<states::RoomStates>,
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
            states: Arc::new(states::RoomStates::new(store.clone())),
            store,
            net,
            bus,
            metrics,
            node_key,
            author_locks: Mutex::new(HashMap::new()),
            flights: sync::Flights::default(),
            outbox: outbox::OutboxState::default(),
        }
    }

    /// Posts a message to the public room as a local account; durable before it returns.
    pub async fn post_public(
        &self,
        keys: &UnlockedKeys,
        content: Content,
    ) -> Result<MessageRow, RoomError> {
        match self.post_public_content(keys, content).await?.derived {
            Derived::Message(row) => Ok(row),
            _ => Err(RoomError::Rejected(Rejection::Invalid(
                "not a message".into(),
            ))),
        }
    }

    /// Posts an edit, deletion or reaction to the public room.
    pub async fn post_public_op(
        &self,
        keys: &UnlockedKeys,
        content: Content,
    ) -> Result<(), RoomError> {
        match self.post_public_content(keys, content).await?.derived {
            Derived::Op(_) => Ok(()),
            _ => Err(RoomError::Rejected(Rejection::Invalid(
                "not an operation on a message".into(),
            ))),
        }
    }

    async fn post_public_content(
        &self,
        keys: &UnlockedKeys,
        content: Content,
    ) -> Result<Checked, RoomError> {
        let body = content
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
        self.publish_local(
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
        .await
    }

    /// Publishes a new version of a local account's record, with this node's current addresses.
    pub async fn publish_profile(
        &self,
        keys: &UnlockedKeys,
        profile: &Profile,
    ) -> Result<UserRow, RoomError> {
        let profile = &Profile {
            node_addrs: self.home_addrs().await,
            ..profile.clone()
        };
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

    /// Where this node can be dialed, for account records ([`records::home_addrs_of`] of its
    /// confirmed external addresses and its listen addresses).
    pub async fn home_addrs(&self) -> Vec<String> {
        let external = self
            .net
            .status()
            .await
            .map(|s| s.external_addrs)
            .unwrap_or_default();
        let listen = self.net.listen_addrs().await.unwrap_or_default();
        records::home_addrs_of(&external, &listen)
    }

    /// Stores checked envelopes from peers in one transaction and publishes the events of those
    /// stored. Relaxed: what came from a peer can be fetched again.
    pub(crate) async fn store_checked(
        &self,
        items: Vec<Checked>,
        now: u64,
    ) -> Result<Vec<Applied>, StoreError> {
        let (bus, states) = (self.bus.clone(), self.states.clone());
        self.store
            .queue_write_relaxed_then(
                move |txn| pipeline::apply_all(txn, &states, &items, now),
                move |applied: &Vec<Applied>| announce(&bus, applied, &HashSet::new(), &[]),
            )
            .await
    }

    /// The directory entry of an account.
    pub async fn user(&self, id: AccountId) -> Result<Option<UserRow>, StoreError> {
        self.store.read(move |c| users::get(c, &id.0)).await
    }
}

/// Publishes the events of the envelopes just stored, then `also` (what local accounts opened
/// of them, ...), run by the writer once they are committed (`Store::queue_write_then` and
/// `queue_write_relaxed_then`). Leaves out the "room data arrived" events of `opened`: rooms
/// whose arrivals were opened in the transaction that stored them.
pub(crate) fn announce(
    bus: &EventBus,
    applied: &[Applied],
    opened: &HashSet<RoomId>,
    also: &[NodeEvent],
) {
    for outcome in applied {
        if let Applied::Stored(Some(event)) = outcome {
            if matches!(**event, NodeEvent::RoomData(room) if opened.contains(&room)) {
                continue;
            }
            bus.publish((**event).clone());
        }
    }
    for event in also {
        bus.publish(event.clone());
    }
}
