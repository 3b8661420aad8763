//! Read marks: the newest message each local account has read in each room, and unread counts.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// Unread counts stop here (the UI shows "999+").
pub const MAX_UNREAD: u64 = 999;

/// Moves `account`'s mark in `room` to `message` (sent at `sent_at`) unless it is already at or
/// past it. Returns whether it moved.
pub fn mark(
    txn: &Transaction<'_>,
    account: &[u8; 32],
    room: &[u8; 16],
    message: &[u8; 32],
    sent_at: u64,
) -> Result<bool, StoreError> {
    let moved = txn
        .prepare_cached(
            "INSERT INTO read_marks (account, room, message, sent_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, room) DO UPDATE SET message = excluded.message, sent_at = excluded.sent_at
             WHERE (excluded.sent_at, excluded.message) > (read_marks.sent_at, read_marks.message)",
        )?
        .execute(params![account, room, message, sent_at as i64])?;
    Ok(moved > 0)
}

/// `account`'s mark in `room`: (message id, its time).
pub fn get(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
) -> Result<Option<([u8; 32], u64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT message, sent_at FROM read_marks WHERE account = ?1 AND room = ?2")?
        .query_row(params![account, room], |r| {
            Ok((super::blob(r, 0)?, r.get::<_, i64>(1)? as u64))
        })
        .optional()?)
}

/// How many messages of others in `room` (as `viewer` sees it) `account` has not read, up to
/// [`MAX_UNREAD`]. With no mark yet, what arrived after the account was created counts.
pub fn unread(
    conn: &Connection,
    viewer: &[u8; 32],
    account: &[u8; 32],
    room: &[u8; 16],
) -> Result<u64, StoreError> {
    let (after_time, after_id) = match get(conn, account, room)? {
        Some((id, at)) => (at, id),
        None => {
            let created: Option<i64> = conn
                .prepare_cached("SELECT created_at FROM local_accounts WHERE user_id = ?1")?
                .query_row(params![account], |r| r.get(0))
                .optional()?;
            (created.unwrap_or(0) as u64, [0xff; 32])
        }
    };
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages
               WHERE viewer = ?1 AND room = ?2 AND author != ?3 AND deleted = 0
                 AND (sent_at, id) > (?4, ?5)
               LIMIT ?6)",
        )?
        .query_row(
            params![
                viewer,
                room,
                account,
                after_time as i64,
                after_id,
                MAX_UNREAD as i64
            ],
            |r| r.get(0),
        )?;
    Ok(count as u64)
}
