//! Raw envelopes exactly as received: what sync serves and what history is rebuilt from.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// One stored envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeRow {
    /// Envelope id (hash of its bytes).
    pub id: [u8; 32],
    /// Room id.
    pub room: [u8; 16],
    /// Author account id.
    pub author: [u8; 32],
    /// Author's sequence number in the room.
    pub seq: u64,
    /// Envelope kind byte.
    pub kind: u8,
    /// Author's timestamp, ms.
    pub ts: u64,
    /// The envelope's bytes.
    pub bytes: Vec<u8>,
}

/// What inserting an envelope did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New: stored.
    Inserted,
    /// Already held (same id).
    Duplicate,
    /// Another envelope holds this (room, author, seq): recorded as evidence, not stored.
    Equivocation,
}

/// Stores an envelope unless one with its id or at its position (room, author, seq) is held.
pub(crate) const INSERT: &str =
    "INSERT OR IGNORE INTO envelopes (id, room, author, seq, kind, ts, bytes, received_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Inserts an envelope, detecting duplicates and equivocation. The insert comes first: a new
/// envelope, by far the commonest case, costs one statement, and only one that was refused is
/// looked into (the same envelope again, or another at its position).
pub fn insert(conn: &Connection, row: &EnvelopeRow, now: u64) -> Result<InsertOutcome, StoreError> {
    let inserted = conn.prepare_cached(INSERT)?.execute(params![
        row.id,
        row.room,
        row.author,
        row.seq as i64,
        row.kind,
        row.ts as i64,
        row.bytes,
        now as i64
    ])?;
    if inserted == 1 {
        super::sync::extend_ranges(conn, &row.room, &row.author, row.seq)?;
        if row.kind == super::private::KIND_CONTROL {
            super::writer::note_control_write();
        }
        return Ok(InsertOutcome::Inserted);
    }
    match held_at_position(conn, row)? {
        Some(kept) if kept != row.id => {
            record_equivocation(conn, row, kept, now)?;
            Ok(InsertOutcome::Equivocation)
        }
        // The same envelope: its id is held, and an id fixes its position.
        _ => Ok(InsertOutcome::Duplicate),
    }
}

/// What [`insert`] would refuse `row` as, found by reading alone: `None` when it would store it.
/// An equivocation is recorded as evidence here, as `insert` records it. For a job that decides
/// before it writes and leaves the insert for after its events are shown (`write_after_show`):
/// in the same transaction nothing can take the id or the position in between.
pub fn refusal(
    conn: &Connection,
    row: &EnvelopeRow,
    now: u64,
) -> Result<Option<InsertOutcome>, StoreError> {
    if contains(conn, &row.id)? {
        return Ok(Some(InsertOutcome::Duplicate));
    }
    match held_at_position(conn, row)? {
        Some(kept) => {
            record_equivocation(conn, row, kept, now)?;
            Ok(Some(InsertOutcome::Equivocation))
        }
        None => Ok(None),
    }
}

/// The id of the envelope held at `row`'s position (room, author, seq), if any.
fn held_at_position(conn: &Connection, row: &EnvelopeRow) -> Result<Option<[u8; 32]>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM envelopes WHERE room = ?1 AND author = ?2 AND seq = ?3")?
        .query_row(params![row.room, row.author, row.seq as i64], |r| {
            blob(r, 0)
        })
        .optional()?)
}

/// Keeps the evidence that `row`'s author signed two envelopes for one position.
fn record_equivocation(
    conn: &Connection,
    row: &EnvelopeRow,
    kept: [u8; 32],
    now: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO equivocations (room, author, seq, kept_id, rejected_id, detected_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.room,
        row.author,
        row.seq as i64,
        kept,
        row.id,
        now as i64
    ])?;
    Ok(())
}

/// Whether an envelope with this id is held.
pub fn contains(conn: &Connection, id: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM envelopes WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Where the envelope `id` is in the store's order of arrival (its rowid), if held.
pub fn rowid(conn: &Connection, id: &[u8; 32]) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT rowid FROM envelopes WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// The author's newest envelope in a room: (seq, id).
pub fn head(
    conn: &Connection,
    room: &[u8; 16],
    author: &[u8; 32],
) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT seq, id FROM envelopes WHERE room = ?1 AND author = ?2 ORDER BY seq DESC LIMIT 1")?.query_row(params![room, author], |r| Ok((r.get::<_, i64>(0)? as u64, blob(r, 1)?)))
        .optional()?)
}

/// The highest sequence number a local author may have published in `room` without having
/// stored it (see migration 0012); 0 when none.
pub fn reserved(conn: &Connection, room: &[u8; 16], author: &[u8; 32]) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT upto FROM author_reservations WHERE room = ?1 AND author = ?2")?
        .query_row(params![room, author], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64)
}

/// Raises a local author's reservation in `room` to `upto` (never lowers it).
pub fn reserve(
    txn: &Transaction<'_>,
    room: &[u8; 16],
    author: &[u8; 32],
    upto: u64,
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO author_reservations (room, author, upto) VALUES (?1, ?2, ?3)
         ON CONFLICT (room, author) DO UPDATE SET upto = max(upto, excluded.upto)",
    )?
    .execute(params![room, author, upto as i64])?;
    Ok(())
}

/// How many equivocations were recorded (for metrics and tests).
pub fn equivocation_count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM equivocations")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}

/// How many envelopes of a room the node holds: used by tests and diagnostics.
pub fn count_in_room(conn: &Connection, room: &[u8; 16]) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM envelopes WHERE room = ?1",
        [room],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// The bytes of every envelope the node holds, as a peer could replay them (benches and tests).
pub fn all_bytes(conn: &Connection) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare("SELECT bytes FROM envelopes")?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The bytes of one envelope.
pub fn bytes(conn: &Connection, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM envelopes WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}
