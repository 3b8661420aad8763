//! Room states kept between reads. Resolving a room's control log (a query, a sort, decoding
//! every control operation) ran on every post, every stored sealed envelope and every opening
//! pass, while the log only changes when a control operation is stored.
//!
//! An entry is tagged with the store's control version it was read under and is used only while
//! that version is current ([`Store::control_version`]: the writer moves it on after any
//! transaction that stored a control envelope, before answering). Inside a writer transaction
//! that has stored a control envelope itself, the state is read from that transaction and not
//! kept: no other reader may see what is not committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chatly_protocol::RoomId;
use rusqlite::Connection;

use super::groups::load_state;
use super::membership::RoomState;
use crate::store::{Store, StoreError, control_written_in_this_transaction};

/// More rooms than a node plausibly takes part in: past it the cache starts over rather than grow
/// with rooms a hostile peer makes up.
const MAX_ROOMS: usize = 4096;

/// The resolved states of rooms, shared by every connection of one store.
pub struct RoomStates {
    store: Store,
    entries: Mutex<HashMap<RoomId, (u64, Arc<RoomState>)>>,
}

impl RoomStates {
    /// An empty cache over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The state of `room` as `conn` (a reader, or the writer's transaction) sees it.
    pub fn load(&self, conn: &Connection, room: RoomId) -> Result<Arc<RoomState>, StoreError> {
        if control_written_in_this_transaction() {
            return Ok(Arc::new(load_state(conn, room)?));
        }
        // Read before the query starts its snapshot: a control change committed in between
        // moves the version on, and the entry is never used.
        let version = self.store.control_version();
        if let Some(state) = self.kept(room, version) {
            return Ok(state);
        }
        let state = Arc::new(load_state(conn, room)?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ROOMS {
            entries.clear();
        }
        entries.insert(room, (version, state.clone()));
        Ok(state)
    }

    /// The state of `room`; reads the store only when it is not kept.
    pub async fn get(self: &Arc<Self>, room: RoomId) -> Result<Arc<RoomState>, StoreError> {
        if let Some(state) = self.kept(room, self.store.control_version()) {
            return Ok(state);
        }
        let this = self.clone();
        self.store.read(move |c| this.load(c, room)).await
    }

    fn kept(&self, room: RoomId, version: u64) -> Option<Arc<RoomState>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&room) {
            Some((at, state)) if *at == version => Some(state.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chatly_protocol::control::ControlOp;
    use chatly_protocol::{AccountId, EnvelopeId, Header, Kind};

    use super::*;
    use crate::accounts::UnlockedKeys;
    use crate::rooms::seal;
    use crate::store::envelopes::{self, EnvelopeRow};

    const ROOM: RoomId = RoomId([7; 16]);

    /// `admin`'s control operation number `seq` in the test room, as a stored row.
    fn control(admin: &UnlockedKeys, seq: u64, op: ControlOp) -> EnvelopeRow {
        let author = admin.account_id();
        let header = Header::plain(Kind::Control, ROOM, author, seq, EnvelopeId::ZERO, seq);
        let verified = seal::seal(&admin.identity, header, op.encode().unwrap()).unwrap();
        EnvelopeRow {
            id: verified.id.0,
            room: ROOM.0,
            author: author.0,
            seq,
            kind: Kind::Control as u8,
            ts: seq,
            bytes: verified.bytes,
        }
    }

    #[tokio::test]
    async fn a_kept_state_gives_way_to_committed_control_operations_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("states.db")).unwrap();
        let states = Arc::new(RoomStates::new(store.clone()));
        let admin = Arc::new(UnlockedKeys::generate(1));
        let (bob, carol) = (AccountId([2; 32]), AccountId([3; 32]));

        // Kept before the room exists, then created: the next read sees the creation.
        assert!(states.get(ROOM).await.unwrap().kind.is_none());
        let create = control(&admin, 1, ControlOp::Create { members: vec![bob] });
        store
            .write(move |txn| envelopes::insert(txn, &create, 0).map(drop))
            .await
            .unwrap();
        assert!(states.get(ROOM).await.unwrap().is_member(&bob));

        // Inside the transaction that adds carol, that transaction's view; outside it and after
        // it rolled back, the committed one.
        let (inside, admin2) = (states.clone(), admin.clone());
        let failed = store
            .write(move |txn| {
                envelopes::insert(
                    txn,
                    &control(&admin2, 2, ControlOp::Add { member: carol }),
                    0,
                )?;
                assert!(inside.load(txn, ROOM)?.is_member(&carol));
                Err::<(), _>(StoreError::BadRow("roll back".into()))
            })
            .await;
        assert!(failed.is_err());
        let state = states.get(ROOM).await.unwrap();
        assert!(state.is_member(&bob) && !state.is_member(&carol));

        // Committed: seen by the next read, on a reader as in the writer.
        let add = control(&admin, 2, ControlOp::Add { member: carol });
        store
            .write(move |txn| envelopes::insert(txn, &add, 0).map(drop))
            .await
            .unwrap();
        assert!(states.get(ROOM).await.unwrap().is_member(&carol));
        let writer = states.clone();
        let in_writer = store
            .write(move |txn| Ok(writer.load(txn, ROOM)?.is_member(&carol)))
            .await
            .unwrap();
        assert!(in_writer);
    }
}
