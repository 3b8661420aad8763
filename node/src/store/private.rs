//! Rows of group and direct rooms: control logs, sealed content and key deliveries (as raw
//! envelopes), and each local account's chains and room names (sealed under its master key).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// Envelope kind bytes this module queries (see docs/protocol.md).
pub(crate) const KIND_CONTROL: u8 = 3;
const KIND_SEALED: u8 = 4;
const KIND_DELIVERY: u8 = 5;

// Every query below that goes through `envelopes_kind_room` repeats the index's own condition,
// `kind BETWEEN 3 AND 5`, word for word: the index is partial (migrations 0019 and 0021), and
// SQLite uses a partial index only for a query whose WHERE clause contains the index's terms (a
// bound `kind` does not tell it). Those three are [`KIND_CONTROL`], [`KIND_SEALED`] and
// [`KIND_DELIVERY`]. A range, not a list: SQLite evaluates `IN (...)` through a temporary table.

/// (envelope id, envelope bytes).
type IdAndBytes = ([u8; 32], Vec<u8>);

/// One kind of envelope in a room, in (author, seq) order. The index is named: left to itself
/// SQLite walks the (room, author, seq) index to skip the sort, reading every message of the
/// room to find its few control operations; through (kind, room) it reads just those, and sorts
/// them.
pub(crate) const ENVELOPES_OF: &str =
    "SELECT id, bytes FROM envelopes INDEXED BY envelopes_kind_room
     WHERE room = ?1 AND kind = ?2 AND kind BETWEEN 3 AND 5 ORDER BY author, seq";

fn envelopes_of(
    conn: &Connection,
    room: &[u8; 16],
    kind: u8,
) -> Result<Vec<IdAndBytes>, StoreError> {
    let mut stmt = conn.prepare_cached(ENVELOPES_OF)?;
    let rows = stmt.query_map(params![room, kind], |r| Ok((blob::<32>(r, 0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every control envelope of a room.
pub fn control_envelopes(conn: &Connection, room: &[u8; 16]) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(envelopes_of(conn, room, KIND_CONTROL)?
        .into_iter()
        .map(|(_, b)| b)
        .collect())
}

/// The key deliveries of [`deliveries`]: those that arrived since the account last looked (a
/// seek on (kind, room, rowid)), less any it has processed.
pub(crate) const DELIVERIES: &str = "SELECT bytes FROM envelopes e
       WHERE kind = ?2 AND kind BETWEEN 3 AND 5 AND room = ?1 AND rowid > ?4
         AND NOT EXISTS (SELECT 1 FROM opened o WHERE o.account = ?3 AND o.id = e.id)";

/// Key deliveries of a room that arrived after `after` (the account's [`looked_upto`]) and that
/// `account` has not processed yet. Deliveries addressed to other members are never marked as
/// processed, so without the mark every pass read and decoded every delivery the room ever had.
pub fn deliveries(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    after: i64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached(DELIVERIES)?;
    let rows = stmt.query_map(params![room, KIND_DELIVERY, account, after], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How far (envelope rowid) `account` has looked in `room`: every key delivery and sealed
/// envelope up to it has been through an opening pass ([`mark_looked`]).
pub fn looked_upto(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT upto FROM open_marks WHERE account = ?1 AND room = ?2")?
        .query_row(params![account, room], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The newest envelope (rowid) of one kind in a room, for [`unopened`]: one seek.
pub(crate) const NEWEST_OF_KIND: &str = "SELECT coalesce(max(rowid), 0) FROM envelopes
       WHERE kind = ?1 AND kind BETWEEN 3 AND 5 AND room = ?2";

/// The sealed envelopes of [`unopened`] that arrived after the last pass. No ORDER BY (nor a
/// UNION with [`PUT_ASIDE`]): each would open a temporary B-tree in every pass, the gossip
/// path's commonest (one for each local member of a room, for each message), to sort a row or
/// two; [`unopened`] sorts them itself. A message is matched to its envelope by place, as in
/// `messages::get` (migration 0022).
pub(crate) const UNOPENED: &str = "SELECT bytes, author, seq FROM envelopes e
       WHERE room = ?1 AND kind = ?2 AND kind BETWEEN 3 AND 5 AND rowid > ?4
         AND NOT EXISTS (SELECT 1 FROM messages m
                         WHERE m.viewer = ?3 AND m.room = e.room AND m.sent_at = e.ts AND m.id = e.id)
         AND NOT EXISTS (SELECT 1 FROM unopenable u WHERE u.account = ?3 AND u.id = e.id)
         AND NOT EXISTS (SELECT 1 FROM opened o WHERE o.account = ?3 AND o.id = e.id)";

/// The sealed envelopes of [`unopened`] an earlier pass put aside ([`mark_looked`]).
pub(crate) const PUT_ASIDE: &str = "SELECT e.bytes, e.author, e.seq FROM open_later l
       JOIN envelopes e ON e.id = l.id WHERE l.account = ?1 AND l.room = ?2";

/// Sealed envelopes of a room that `account` has neither opened nor given up on, in (author,
/// seq) order: those that arrived after `upto` (its [`looked_upto`]), and those it was told to
/// try again. Also returns the newest sealed envelope or key delivery in the room (rowid), for
/// [`mark_looked`]: it counts the envelopes passed over because they were already opened (the
/// account's own posts) and the deliveries addressed to others, or every later pass would read
/// them all again.
pub fn unopened(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    upto: i64,
) -> Result<(Vec<Vec<u8>>, i64), StoreError> {
    // One seek per kind: SQLite's max() shortcut takes a single index range, not an IN list.
    let mut newest = 0;
    for kind in [KIND_SEALED, KIND_DELIVERY] {
        let last: i64 = conn
            .prepare_cached(NEWEST_OF_KIND)?
            .query_row(params![kind, room], |r| r.get(0))?;
        newest = newest.max(last);
    }
    let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(2)?, blob::<32>(r, 1)?, r.get(0)?));
    let mut pending: Vec<(i64, [u8; 32], Vec<u8>)> = conn
        .prepare_cached(UNOPENED)?
        .query_map(params![room, KIND_SEALED, account, upto], row)?
        .collect::<Result<_, _>>()?;
    pending.extend(
        conn.prepare_cached(PUT_ASIDE)?
            .query_map(params![account, room], row)?
            .collect::<Result<Vec<_>, _>>()?,
    );
    // By author, then sequence: a chain opens its messages in order. One envelope per
    // (author, seq) in a room, so an envelope listed twice is dropped here.
    pending.sort_unstable_by_key(|&(seq, author, _)| (author, seq));
    pending.dedup_by(|a, b| (a.1, a.0) == (b.1, b.0));
    Ok((
        pending.into_iter().map(|(_, _, bytes)| bytes).collect(),
        newest,
    ))
}

/// Records how far `account` has looked in `room`, and which envelopes to try again later
/// (`later`, replacing the previous list).
pub fn mark_looked(
    txn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    upto: i64,
    later: &[[u8; 32]],
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO open_marks (account, room, upto) VALUES (?1, ?2, ?3)
         ON CONFLICT (account, room) DO UPDATE SET upto = max(upto, excluded.upto)",
    )?
    .execute(params![account, room, upto])?;
    txn.prepare_cached("DELETE FROM open_later WHERE account = ?1 AND room = ?2")?
        .execute(params![account, room])?;
    let mut insert = txn.prepare_cached(
        "INSERT OR IGNORE INTO open_later (account, room, id) VALUES (?1, ?2, ?3)",
    )?;
    for id in later {
        insert.execute(params![account, room, id])?;
    }
    Ok(())
}

/// Rooms that have a control log (through the partial (kind, room) index of migrations 0019 and
/// 0021).
pub(crate) const ROOMS: &str =
    "SELECT DISTINCT room FROM envelopes WHERE kind = ?1 AND kind BETWEEN 3 AND 5";

/// Rooms that have a control log.
pub fn rooms(conn: &Connection) -> Result<Vec<[u8; 16]>, StoreError> {
    let mut stmt = conn.prepare_cached(ROOMS)?;
    let rows = stmt.query_map([KIND_CONTROL], |r| blob::<16>(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Remembers that `account` will never open this envelope.
pub fn mark_unopenable(
    txn: &Connection,
    account: &[u8; 32],
    id: &[u8; 32],
) -> Result<(), StoreError> {
    txn.prepare_cached("INSERT OR IGNORE INTO unopenable (account, id) VALUES (?1, ?2)")?
        .execute(params![account, id])?;
    Ok(())
}

/// Remembers that `account` opened this envelope (for content that makes no message row).
pub fn mark_opened(txn: &Connection, account: &[u8; 32], id: &[u8; 32]) -> Result<(), StoreError> {
    txn.prepare_cached("INSERT OR IGNORE INTO opened (account, id) VALUES (?1, ?2)")?
        .execute(params![account, id])?;
    Ok(())
}

/// A sealed sending chain and the members it was delivered to.
pub type SealedSenderChain = (Vec<u8>, Vec<[u8; 32]>);

/// A sending chain, sealed, and the members it went to.
pub fn sender_chain(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
) -> Result<Option<SealedSenderChain>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT sealed, delivered_to FROM sender_chains WHERE account = ?1 AND room = ?2",
        )?
        .query_row(params![account, room], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()?
        .map(|(sealed, to)| {
            (
                sealed,
                to.chunks_exact(32)
                    .filter_map(|c| c.try_into().ok())
                    .collect(),
            )
        }))
}

/// Stores a sending chain.
pub fn put_sender_chain(
    txn: &Transaction<'_>,
    account: &[u8; 32],
    room: &[u8; 16],
    sealed: &[u8],
    delivered_to: &[[u8; 32]],
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO sender_chains (account, room, sealed, delivered_to) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, room)
         DO UPDATE SET sealed = excluded.sealed, delivered_to = excluded.delivered_to",
    )?
    .execute(params![account, room, sealed, delivered_to.concat()])?;
    Ok(())
}

/// Moves a sending chain on: stores its new state and keeps whom it was delivered to (nobody,
/// for a chain not stored before). One statement, without reading the row: a sealed post moves
/// its author's chain in every commit.
pub fn move_sender_chain(
    txn: &Transaction<'_>,
    account: &[u8; 32],
    room: &[u8; 16],
    sealed: &[u8],
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO sender_chains (account, room, sealed, delivered_to) VALUES (?1, ?2, ?3, x'')
         ON CONFLICT (account, room) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(params![account, room, sealed])?;
    Ok(())
}

/// A receiving chain, sealed.
pub fn receiver_chain(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    sender: &[u8; 32],
    chain_id: &[u8; 16],
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT sealed FROM receiver_chains WHERE account = ?1 AND room = ?2 AND sender = ?3 AND chain_id = ?4")?.query_row(params![account, room, sender, chain_id], |r| r.get(0))
        .optional()?)
}

/// Stores a receiving chain (after each use: used keys are gone).
pub fn put_receiver_chain(
    txn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    sender: &[u8; 32],
    chain_id: &[u8; 16],
    sealed: &[u8],
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO receiver_chains (account, room, sender, chain_id, sealed) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, room, sender, chain_id) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(params![account, room, sender, chain_id, sealed])?;
    Ok(())
}

/// The room name and description `account` opened last, sealed.
pub fn room_info(
    conn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT sealed FROM room_info WHERE account = ?1 AND room = ?2")?
        .query_row(params![account, room], |r| r.get(0))
        .optional()?)
}

/// Keeps the newer room info.
pub fn put_room_info(
    txn: &Connection,
    account: &[u8; 32],
    room: &[u8; 16],
    sealed: &[u8],
    sent_at: u64,
) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT INTO room_info (account, room, sealed, sent_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, room) DO UPDATE SET sealed = excluded.sealed, sent_at = excluded.sent_at
         WHERE excluded.sent_at >= room_info.sent_at")?
        .execute(params![account, room, sealed, sent_at as i64])?;
    Ok(())
}
