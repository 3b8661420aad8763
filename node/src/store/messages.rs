//! Readable messages in display order: by the author's timestamp, ties broken by id, so every
//! node shows the same order. Each row has a viewer: [`PUBLIC_VIEWER`] for the public room, or the
//! local account that opened a private message (whose content is then sealed under that account's
//! master key). A message is unique by its place in that order, and found by id through its
//! envelope, which this node keeps beside it (migration 0022).

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, blob};

/// The viewer of public rows: everyone on this node.
pub const PUBLIC_VIEWER: [u8; 32] = [0; 32];

/// One readable message.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// Who may read it: [`PUBLIC_VIEWER`] or a local account.
    pub viewer: [u8; 32],
    /// Envelope id.
    pub id: [u8; 32],
    /// Room id.
    pub room: [u8; 16],
    /// Author account id.
    pub author: [u8; 32],
    /// Text as typed (empty when `sealed`).
    pub text: String,
    /// Attached files, JSON (API shape; empty when `sealed`).
    pub files: String,
    /// The message this one answers.
    pub reply_to: Option<[u8; 32]>,
    /// Private content sealed under the viewer's master key.
    pub sealed: Option<Vec<u8>>,
    /// Author's timestamp, ms.
    pub sent_at: u64,
    /// Last edit, ms.
    pub edited_at: Option<u64>,
    /// Deleted by its author or an admin.
    pub deleted: bool,
}

/// A page of messages, oldest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The messages.
    pub messages: Vec<MessageRow>,
    /// Whether more exist beyond this page in the direction asked.
    pub has_more: bool,
}

/// Stores a message row (ignored if present); a public one is indexed for search later, in a
/// batch ([`super::search::index_pending`]). Its envelope is stored in the same transaction:
/// [`get`] finds a message through it.
pub fn insert(txn: &Connection, row: &MessageRow) -> Result<(), StoreError> {
    let inserted = txn.prepare_cached(
        "INSERT OR IGNORE INTO messages (viewer, id, room, author, text, files, reply_to, sealed, sent_at, edited_at, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        row.viewer,
        row.id,
        row.room,
        row.author,
        row.text,
        row.files,
        row.reply_to,
        row.sealed,
        row.sent_at as i64,
        row.edited_at.map(|t| t as i64),
        row.deleted
    ])?;
    if inserted > 0 && row.viewer == PUBLIC_VIEWER {
        super::search::note_unindexed();
    }
    Ok(())
}

const COLUMNS: &str =
    "viewer, id, room, author, text, files, reply_to, sealed, sent_at, edited_at, deleted";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let reply_to: Option<Vec<u8>> = row.get(6)?;
    Ok(MessageRow {
        viewer: blob(row, 0)?,
        id: blob(row, 1)?,
        room: blob(row, 2)?,
        author: blob(row, 3)?,
        text: row.get(4)?,
        files: row.get(5)?,
        reply_to: reply_to.and_then(|b| b.try_into().ok()),
        sealed: row.get(7)?,
        sent_at: row.get::<_, i64>(8)? as u64,
        edited_at: row.get::<_, Option<i64>>(9)?.map(|t| t as u64),
        deleted: row.get(10)?,
    })
}

/// [`COLUMNS`] of the row `m`.
const M_COLUMNS: &str = "m.viewer, m.id, m.room, m.author, m.text, m.files, m.reply_to, m.sealed, m.sent_at, m.edited_at, m.deleted";

/// How a message is found by id: through its envelope `e` (one seek in the envelopes' id index),
/// whose room and time are the message's place in the unique order index (migration 0022).
/// Every message row is stored in the commit that stores its envelope, and envelopes stay.
const BY_ENVELOPE: &str = "envelopes e JOIN messages m
     ON m.viewer = ?1 AND m.room = e.room AND m.sent_at = e.ts AND m.id = e.id";

/// One message by viewer and id.
pub fn get(
    conn: &Connection,
    viewer: &[u8; 32],
    id: &[u8; 32],
) -> Result<Option<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {M_COLUMNS} FROM {BY_ENVELOPE} WHERE e.id = ?2"
    ))?;
    Ok(stmt.query_row(params![viewer, id], from_row).optional()?)
}

fn position(
    conn: &Connection,
    viewer: &[u8; 32],
    room: &[u8; 16],
    id: &[u8; 32],
) -> Result<Option<(i64, [u8; 32])>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT m.sent_at FROM {BY_ENVELOPE} WHERE e.id = ?3 AND e.room = ?2"
        ))?
        .query_row(params![viewer, room, id], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|sent_at| (sent_at, *id)))
}

/// Up to `limit` messages before `before` (or the newest), oldest first. `Ok(None)` when
/// `before` names no message of the room.
pub fn page_before(
    conn: &Connection,
    viewer: &[u8; 32],
    room: &[u8; 16],
    before: Option<&[u8; 32]>,
    limit: usize,
) -> Result<Option<Page>, StoreError> {
    let take = limit as i64 + 1;
    let mut rows = match before {
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM messages WHERE viewer = ?1 AND room = ?2 ORDER BY sent_at DESC, id DESC LIMIT ?3"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            stmt.query_map(params![viewer, room, take], from_row)?
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(id) => {
            let Some((sent_at, id)) = position(conn, viewer, room, id)? else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT {COLUMNS} FROM messages WHERE viewer = ?1 AND room = ?2 AND (sent_at, id) < (?3, ?4)
                 ORDER BY sent_at DESC, id DESC LIMIT ?5"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            stmt.query_map(params![viewer, room, sent_at, id, take], from_row)?
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    rows.reverse();
    Ok(Some(Page {
        messages: rows,
        has_more,
    }))
}

/// Up to `limit` messages after `after`, oldest first (catch-up after a reconnect).
pub fn page_after(
    conn: &Connection,
    viewer: &[u8; 32],
    room: &[u8; 16],
    after: &[u8; 32],
    limit: usize,
) -> Result<Option<Page>, StoreError> {
    let Some((sent_at, id)) = position(conn, viewer, room, after)? else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE viewer = ?1 AND room = ?2 AND (sent_at, id) > (?3, ?4)
         ORDER BY sent_at ASC, id ASC LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(
            params![viewer, room, sent_at, id, limit as i64 + 1],
            from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Ok(Some(Page {
        messages: rows,
        has_more,
    }))
}

/// The newest message of a room for a viewer.
pub fn last(
    conn: &Connection,
    viewer: &[u8; 32],
    room: &[u8; 16],
) -> Result<Option<MessageRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE viewer = ?1 AND room = ?2 ORDER BY sent_at DESC, id DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, room], from_row)
        .optional()?)
}
