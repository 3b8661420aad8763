//! Search (`GET /api/v1/search`): public messages from the on-disk FTS5 index; an account's
//! private messages from an index kept in memory only, built the first time the account searches
//! and brought up to date before each search, so decrypted text never reaches the disk. The
//! index is dropped when the account logs out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chatly_protocol::{AccountId, RoomId};
use rusqlite::{Connection, params};

use crate::accounts::UnlockedKeys;
use crate::store::search::{self as rows, Hit, MAX_RESULTS};
use crate::store::{Store, StoreError};

/// Rows decrypted and indexed per store read while catching up.
const CATCH_UP_BATCH: usize = 2_000;

/// One account's in-memory index and how far it has read.
struct PrivateIndex {
    conn: Connection,
    upto: i64,
}

/// The search service.
pub struct Search {
    store: Store,
    private: Mutex<HashMap<AccountId, Arc<Mutex<PrivateIndex>>>>,
}

impl Search {
    /// Search over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            private: Mutex::new(HashMap::new()),
        }
    }

    /// The best matches for `input` among messages `keys`' account can read in `rooms` (its
    /// rooms; the public room included when listed), best first.
    pub async fn search(
        &self,
        keys: Arc<UnlockedKeys>,
        rooms: HashSet<RoomId>,
        only: Option<RoomId>,
        input: &str,
    ) -> Result<Vec<Hit>, StoreError> {
        let Some(terms) = rows::Terms::parse(input) else {
            return Ok(Vec::new());
        };
        let mut hits = Vec::new();
        if rooms.contains(&RoomId::PUBLIC) && only.is_none_or(|r| r == RoomId::PUBLIC) {
            let terms = terms.clone();
            // Messages stored since the last indexing run are indexed first: a search finds
            // every message stored before it.
            self.store
                .write_relaxed(|txn| rows::index_pending(txn, usize::MAX))
                .await?;
            let public = self
                .store
                .read(move |c| rows::query(c, "public_search", &terms, Some(&RoomId::PUBLIC.0)))
                .await?;
            hits.extend(public);
        }
        if only != Some(RoomId::PUBLIC) {
            let index = self.caught_up(keys).await?;
            let room = only.map(|r| r.0);
            let private = tokio::task::spawn_blocking(move || {
                let index = index.lock().unwrap_or_else(|e| e.into_inner());
                rows::query(&index.conn, "private_search", &terms, room.as_ref())
            })
            .await
            .map_err(|_| StoreError::Closed)??;
            hits.extend(private);
        }
        hits.retain(|h| rooms.contains(&RoomId(h.room)));
        hits.sort_by(|a, b| a.rank.total_cmp(&b.rank));
        hits.truncate(MAX_RESULTS);
        Ok(hits)
    }

    /// The account's index, with every private message it has opened so far.
    async fn caught_up(
        &self,
        keys: Arc<UnlockedKeys>,
    ) -> Result<Arc<Mutex<PrivateIndex>>, StoreError> {
        let account = keys.account_id();
        let index = {
            let mut all = self.private.lock().unwrap_or_else(|e| e.into_inner());
            match all.get(&account) {
                Some(index) => index.clone(),
                None => {
                    let index = Arc::new(Mutex::new(PrivateIndex {
                        conn: rows::private_index()?,
                        upto: 0,
                    }));
                    all.insert(account, index.clone());
                    index
                }
            }
        };
        loop {
            let upto = index.lock().unwrap_or_else(|e| e.into_inner()).upto;
            let batch = self
                .store
                .read(move |c| rows::private_rows_after(c, &account.0, upto, CATCH_UP_BATCH))
                .await?;
            let done = batch.len() < CATCH_UP_BATCH;
            let (index, keys) = (index.clone(), keys.clone());
            tokio::task::spawn_blocking(move || add(&index, &keys, batch))
                .await
                .map_err(|_| StoreError::Closed)??;
            if done {
                break;
            }
        }
        Ok(index)
    }

    /// Drops an account's in-memory index (it logged out).
    pub fn forget(&self, account: &AccountId) {
        self.private
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
    }
}

/// Decrypts and indexes a batch of rows.
fn add(
    index: &Mutex<PrivateIndex>,
    keys: &UnlockedKeys,
    batch: Vec<rows::PrivateRow>,
) -> Result<(), StoreError> {
    let mut index = index.lock().unwrap_or_else(|e| e.into_inner());
    let txn = index.conn.unchecked_transaction()?;
    let mut upto = None;
    for (rowid, room, id, sealed) in batch {
        upto = Some(rowid);
        let row = crate::store::messages::MessageRow {
            viewer: keys.account_id().0,
            id,
            room,
            author: [0; 32],
            text: String::new(),
            files: "[]".into(),
            reply_to: None,
            sealed: Some(sealed),
            sent_at: 0,
            edited_at: None,
            deleted: false,
        };
        if let Some((text, _)) = crate::rooms::opened::open_row(keys, &row)
            && !text.trim().is_empty()
        {
            txn.execute(
                "INSERT INTO private_search (text, room, id) VALUES (?1, ?2, ?3)",
                params![text, room, id],
            )?;
        }
    }
    txn.commit()?;
    if let Some(upto) = upto {
        index.upto = upto;
    }
    Ok(())
}
