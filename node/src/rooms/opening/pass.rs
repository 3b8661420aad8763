//! What one opening pass found, and how it is stored: the opened rows, the advanced receiving
//! chains, what will never open and how far the account has looked. The gossip path stores a
//! pass after its show (`store::write_after_show`); the opener's passes store at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chatly_crypto::{ReceiverChain, wrap};
use chatly_protocol::{AccountId, EnvelopeId, RoomId};
use rusqlite::{Connection, Transaction};
use zeroize::Zeroizing;

use super::super::groups::CHAIN_LABEL;
use super::super::opened::Opened;
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::store::messages::MessageRow;
use crate::store::{StoreError, envelopes, private};

/// What one opening pass found, to be stored in the transaction that found it.
pub(crate) struct PassToStore {
    pub(super) keys: Arc<UnlockedKeys>,
    pub(super) room: RoomId,
    /// The newest envelope (rowid) the pass looked at among those read from the store.
    pub(super) newest: i64,
    /// The envelopes it took as they came, whose rows are written before this pass is stored.
    pub(super) unstored: Vec<[u8; 32]>,
    pub(super) batch: OpenBatch,
    pub(super) chains: HashMap<ChainKey, ReceiverChain>,
}

impl PassToStore {
    /// Stores the pass: the advanced chains, what was opened, what never will be, and how far
    /// the account has looked. `conn` is the writer's, in the transaction that found the pass.
    pub(crate) fn store(&self, conn: &Connection) -> Result<(), StoreError> {
        // How far the account has looked covers the envelopes taken as they came.
        let mut newest = self.newest;
        for id in &self.unstored {
            newest = newest.max(envelopes::rowid(conn, id)?.unwrap_or(0));
        }
        store_batch(
            conn,
            &self.keys,
            self.room,
            newest,
            &self.batch,
            &self.chains,
        )
    }
}

/// Stores one pass: the advanced chains, what was opened, what never will be, and how far the
/// account has looked.
fn store_batch(
    txn: &Connection,
    keys: &UnlockedKeys,
    room: RoomId,
    newest: i64,
    batch: &OpenBatch,
    chains: &HashMap<ChainKey, ReceiverChain>,
) -> Result<(), StoreError> {
    let me = keys.account_id();
    let master = *keys.master.expose();
    for key in &batch.touched {
        if let Some(chain) = chains.get(key) {
            let sealed = wrap::seal(&master, CHAIN_LABEL, &chain.to_bytes());
            private::put_receiver_chain(txn, &me.0, &room.0, &key.0, &key.1, &sealed)?;
        }
    }
    for id in &batch.unopenable {
        private::mark_unopenable(txn, &me.0, id)?;
    }
    for opened in &batch.opened {
        Opened {
            account: me,
            room,
            id: opened.id,
            row: opened.row.as_ref(),
            info_at: opened.info_at,
            op: opened.op.as_ref(),
            plain: &opened.plain,
        }
        .record(txn, &master)?;
    }
    private::mark_looked(txn, &me.0, &room.0, newest, &batch.later)
}

/// A receiving chain's key: (sender, chain id).
pub(super) type ChainKey = ([u8; 32], [u8; 16]);

/// What one opening pass found, before it is stored.
#[derive(Default)]
pub(super) struct OpenBatch {
    /// What was opened, in order.
    pub(super) opened: Vec<OpenedOwned>,
    /// Envelopes that will never open (a wrong key or bad content).
    pub(super) unopenable: Vec<[u8; 32]>,
    /// Envelopes whose key delivery has not arrived yet.
    pub(super) later: Vec<[u8; 32]>,
    /// The chains that moved.
    pub(super) touched: HashSet<ChainKey>,
}

impl OpenBatch {
    /// The events to publish once the batch is stored, read before it is: an operation opened
    /// in this batch counts for its target as one stored earlier does.
    pub(super) fn events(
        &self,
        txn: &Transaction<'_>,
        viewer: AccountId,
        room: RoomId,
    ) -> Result<Vec<NodeEvent>, StoreError> {
        let targets: HashSet<[u8; 32]> = self
            .opened
            .iter()
            .filter_map(|opened| opened.op.as_ref().map(|op| op.target))
            .collect();
        self.opened
            .iter()
            .map(|opened| {
                Ok(match (&opened.shown, &opened.op) {
                    (Some(row), _) => NodeEvent::MessageCreated {
                        row: row.clone(),
                        may_have_ops: targets.contains(&row.id)
                            || crate::store::ops::any_for(txn, &viewer.0, &row.id)?,
                        posted_here: false,
                    },
                    (None, Some(op)) => NodeEvent::MessageChanged {
                        viewer: viewer.0,
                        room,
                        target: op.target,
                    },
                    (None, None) => NodeEvent::RoomUpdated(room),
                })
            })
            .collect()
    }
}

/// One opened envelope, owned until its batch is stored.
pub(super) struct OpenedOwned {
    pub(super) id: EnvelopeId,
    /// The message row as stored (sealed).
    pub(super) row: Option<MessageRow>,
    /// The same row in the clear, for the events: sockets need not open it again.
    pub(super) shown: Option<MessageRow>,
    pub(super) info_at: Option<u64>,
    pub(super) op: Option<crate::store::ops::OpRow>,
    /// The content's encoding (plaintext: wiped when dropped).
    pub(super) plain: Zeroizing<Vec<u8>>,
}
