//! Readable messages in display order: by the author's timestamp, ties broken by id, so every
//! node shows the same order.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// One readable message.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// Envelope id.
    pub id: [u8; 32],
    /// Room id.
    pub room: [u8; 16],
    /// Author account id.
    pub author: [u8; 32],
    /// Text as typed.
    pub text: String,
    /// Attached files, JSON (API shape).
    pub files: String,
    /// The message this one answers.
    pub reply_to: Option<[u8; 32]>,
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

/// Stores a message row (ignored if present).
pub fn insert(txn: &Transaction<'_>, row: &MessageRow) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT OR IGNORE INTO messages (id, room, author, text, files, reply_to, sent_at, edited_at, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.id, row.room, row.author, row.text, row.files, row.reply_to, row.sent_at as i64,
        row.edited_at.map(|t| t as i64), row.deleted
    ])?;
    Ok(())
}

const COLUMNS: &str = "id, room, author, text, files, reply_to, sent_at, edited_at, deleted";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let reply_to: Option<Vec<u8>> = row.get(5)?;
    Ok(MessageRow {
        id: blob(row, 0)?,
        room: blob(row, 1)?,
        author: blob(row, 2)?,
        text: row.get(3)?,
        files: row.get(4)?,
        reply_to: reply_to.and_then(|b| b.try_into().ok()),
        sent_at: row.get::<_, i64>(6)? as u64,
        edited_at: row.get::<_, Option<i64>>(7)?.map(|t| t as u64),
        deleted: row.get(8)?,
    })
}

/// One message by id.
pub fn get(conn: &Connection, id: &[u8; 32]) -> Result<Option<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

fn position(
    conn: &Connection,
    room: &[u8; 16],
    id: &[u8; 32],
) -> Result<Option<(i64, [u8; 32])>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT sent_at FROM messages WHERE room = ?1 AND id = ?2")?
        .query_row(params![room, id], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|sent_at| (sent_at, *id)))
}

/// Up to `limit` messages before `before` (or the newest), oldest first. `Ok(None)` when
/// `before` names no message of the room.
pub fn page_before(
    conn: &Connection,
    room: &[u8; 16],
    before: Option<&[u8; 32]>,
    limit: usize,
) -> Result<Option<Page>, StoreError> {
    let take = limit as i64 + 1;
    let mut rows = match before {
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM messages WHERE room = ?1 ORDER BY sent_at DESC, id DESC LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            stmt.query_map(params![room, take], from_row)?
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(id) => {
            let Some((sent_at, id)) = position(conn, room, id)? else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND (sent_at, id) < (?2, ?3)
                 ORDER BY sent_at DESC, id DESC LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            stmt.query_map(params![room, sent_at, id, take], from_row)?
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
    room: &[u8; 16],
    after: &[u8; 32],
    limit: usize,
) -> Result<Option<Page>, StoreError> {
    let Some((sent_at, id)) = position(conn, room, after)? else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND (sent_at, id) > (?2, ?3)
         ORDER BY sent_at ASC, id ASC LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(params![room, sent_at, id, limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Ok(Some(Page {
        messages: rows,
        has_more,
    }))
}

/// The newest message of a room.
pub fn last(conn: &Connection, room: &[u8; 16]) -> Result<Option<MessageRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE room = ?1 ORDER BY sent_at DESC, id DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([room], from_row)
        .optional()?)
}
