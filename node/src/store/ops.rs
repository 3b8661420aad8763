//! Operations on messages (edits, deletions, reactions), stored per viewer and folded into each
//! message when it is read: whatever order they arrive in, every node shows the same result.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::{StoreError, blob};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Replaces the text (the message's author only).
    Edit = 1,
    /// Withdraws the message (its author or a room admin).
    Delete = 2,
    /// Toggles the author's reaction with an emoji.
    Reaction = 3,
}

impl OpKind {
    fn from_i64(v: i64) -> Option<OpKind> {
        match v {
            1 => Some(OpKind::Edit),
            2 => Some(OpKind::Delete),
            3 => Some(OpKind::Reaction),
            _ => None,
        }
    }
}

/// One stored operation.
#[derive(Debug, Clone)]
pub struct OpRow {
    /// Who reads it (as for messages).
    pub viewer: [u8; 32],
    /// The operation's envelope id.
    pub id: [u8; 32],
    /// Its room.
    pub room: [u8; 16],
    /// The message it applies to.
    pub target: [u8; 32],
    /// Who did it.
    pub author: [u8; 32],
    /// What it does.
    pub kind: OpKind,
    /// Edit: the new text; reaction: the emoji (sealed for private viewers); delete: empty.
    pub payload: Vec<u8>,
    /// The author's timestamp, ms.
    pub at: u64,
}

/// Stores an operation; false when it was already there.
pub fn insert(txn: &Connection, op: &OpRow) -> Result<bool, StoreError> {
    let n = txn
        .prepare_cached(
            "INSERT OR IGNORE INTO message_ops (viewer, id, room, target, author, kind, payload, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            op.viewer,
            op.id,
            op.room,
            op.target,
            op.author,
            op.kind as i64,
            op.payload,
            op.at as i64
        ])?;
    Ok(n > 0)
}

/// Whether any operation on `target` is stored for `viewer` (one probe of the target index).
pub fn any_for(
    conn: &Connection,
    viewer: &[u8; 32],
    target: &[u8; 32],
) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM message_ops WHERE viewer = ?1 AND target = ?2)",
    )?;
    Ok(stmt.query_row(params![viewer, target], |r| r.get(0))?)
}

/// Every operation on `targets` as `viewer` sees them, per target, oldest first.
pub fn for_targets(
    conn: &Connection,
    viewer: &[u8; 32],
    targets: &[[u8; 32]],
) -> Result<HashMap<[u8; 32], Vec<OpRow>>, StoreError> {
    let mut out: HashMap<[u8; 32], Vec<OpRow>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, room, target, author, kind, payload, at FROM message_ops
         WHERE viewer = ?1 AND target = ?2 ORDER BY at, id",
    )?;
    for target in targets {
        let rows = stmt.query_map(params![viewer, target], |r| {
            Ok((
                blob::<32>(r, 0)?,
                blob::<16>(r, 1)?,
                blob::<32>(r, 2)?,
                blob::<32>(r, 3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        for row in rows {
            let (id, room, target, author, kind, payload, at) = row?;
            let Some(kind) = OpKind::from_i64(kind) else {
                continue;
            };
            out.entry(target).or_default().push(OpRow {
                viewer: *viewer,
                id,
                room,
                target,
                author,
                kind,
                payload,
                at: at as u64,
            });
        }
    }
    Ok(out)
}
