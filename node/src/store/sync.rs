//! What sync needs from the store: sequence ranges held, pages of envelopes, the outbox of local
//! envelopes no peer holds yet, and how far each peer holds local authors' envelopes.

use chatly_protocol::sync::{
    AuthorRanges, MAX_PAGE_ENVELOPES, MAX_RANGES_PER_AUTHOR, SeqRange, Want,
};
use chatly_protocol::{AccountId, RoomId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{StoreError, blob};

/// Records that `seq` is now held for (room, author), merging it into the neighbouring runs.
pub fn extend_ranges(
    txn: &Connection,
    room: &[u8; 16],
    author: &[u8; 32],
    seq: u64,
) -> Result<(), StoreError> {
    let seq = seq as i64;
    // Runs are disjoint and apart, so the only one that can end at seq - 1 is the last to start
    // at or below it (found by the primary key; there is no index by end, migration 0018).
    let below: Option<i64> = txn
        .prepare_cached(
            "SELECT lo, hi FROM seq_ranges WHERE room = ?1 AND author = ?2 AND lo <= ?3
             ORDER BY lo DESC LIMIT 1",
        )?
        .query_row(params![room, author, seq - 1], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
        .and_then(|(lo, hi)| (hi == seq - 1).then_some(lo));
    let above: Option<i64> = txn
        .prepare_cached("SELECT hi FROM seq_ranges WHERE room = ?1 AND author = ?2 AND lo = ?3")?
        .query_row(params![room, author, seq + 1], |r| r.get(0))
        .optional()?;
    if above.is_some() {
        txn.prepare_cached("DELETE FROM seq_ranges WHERE room = ?1 AND author = ?2 AND lo = ?3")?
            .execute(params![room, author, seq + 1])?;
    }
    let hi = above.unwrap_or(seq);
    match below {
        Some(lo) => txn
            .prepare_cached(
                "UPDATE seq_ranges SET hi = ?4 WHERE room = ?1 AND author = ?2 AND lo = ?3",
            )?
            .execute(params![room, author, lo, hi])?,
        None => txn
            .prepare_cached(
                "INSERT INTO seq_ranges (room, author, lo, hi) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![room, author, seq, hi])?,
    };
    Ok(())
}

/// Every room this node holds envelopes of.
pub fn rooms(conn: &Connection) -> Result<Vec<RoomId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT room FROM seq_ranges")?;
    let rows = stmt.query_map([], |r| Ok(RoomId(blob(r, 0)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What this node holds of a room: authors ascending, each with its ranges ascending (at most
/// [`MAX_RANGES_PER_AUTHOR`]; beyond that the newest runs are left out and simply fetched again).
pub fn room_heads(conn: &Connection, room: &RoomId) -> Result<Vec<AuthorRanges>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, lo, hi FROM seq_ranges WHERE room = ?1 ORDER BY author, lo",
    )?;
    let mut heads: Vec<AuthorRanges> = Vec::new();
    let rows = stmt.query_map([room.0], |r| {
        Ok((
            blob::<32>(r, 0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
        ))
    })?;
    for row in rows {
        let (author, lo, hi) = row?;
        let range = SeqRange { lo, hi };
        match heads.last_mut() {
            Some(last) if last.author.0 == author => {
                if last.ranges.len() < MAX_RANGES_PER_AUTHOR {
                    last.ranges.push(range);
                }
            }
            _ => heads.push(AuthorRanges {
                author: AccountId(author),
                ranges: vec![range],
            }),
        }
    }
    Ok(heads)
}

/// Envelopes for `wants`, in the order given, until `budget` bytes or [`MAX_PAGE_ENVELOPES`];
/// control operations of every wanted range come first, so membership is known before the sealed
/// content it admits. A want flagged `true` gets control operations only. Returns the envelopes
/// and whether more was wanted than fitted.
pub fn page(
    conn: &Connection,
    wants: &[(Want, bool)],
    budget: usize,
) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
    let mut envelopes = Vec::new();
    let mut bytes = 0usize;
    for controls in [true, false] {
        let mut stmt = conn.prepare_cached(if controls {
            "SELECT bytes FROM envelopes WHERE room = ?1 AND author = ?2 AND seq BETWEEN ?3 AND ?4 AND kind = 3 ORDER BY seq LIMIT ?5"
        } else {
            "SELECT bytes FROM envelopes WHERE room = ?1 AND author = ?2 AND seq BETWEEN ?3 AND ?4 AND kind != 3 ORDER BY seq LIMIT ?5"
        })?;
        for (want, controls_only) in wants {
            if *controls_only && !controls {
                continue;
            }
            let room_left = MAX_PAGE_ENVELOPES - envelopes.len();
            let mut rows = stmt.query(params![
                want.room.0,
                want.author.0,
                want.range.lo.min(i64::MAX as u64) as i64,
                want.range.hi.min(i64::MAX as u64) as i64,
                room_left as i64 + 1
            ])?;
            while let Some(row) = rows.next()? {
                let envelope: Vec<u8> = row.get(0)?;
                if envelopes.len() >= MAX_PAGE_ENVELOPES || bytes + envelope.len() > budget {
                    return Ok((envelopes, true));
                }
                bytes += envelope.len();
                envelopes.push(envelope);
            }
        }
    }
    Ok((envelopes, false))
}

/// One local envelope waiting for a peer to hold it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Envelope id.
    pub id: [u8; 32],
    /// Room id.
    pub room: [u8; 16],
    /// Author.
    pub author: [u8; 32],
    /// Sequence number.
    pub seq: u64,
}

/// Queues a local envelope until a peer holds it.
pub fn outbox_add(txn: &Transaction<'_>, row: &OutboxRow, now: u64) -> Result<(), StoreError> {
    txn.prepare_cached(
        "INSERT OR IGNORE INTO outbox (id, room, author, seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![row.id, row.room, row.author, row.seq as i64, now as i64])?;
    Ok(())
}

/// The outbox, oldest first, at most `limit`.
pub fn outbox(conn: &Connection, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, room, author, seq FROM outbox ORDER BY created_at, seq LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(OutboxRow {
            id: blob(r, 0)?,
            room: blob(r, 1)?,
            author: blob(r, 2)?,
            seq: r.get::<_, i64>(3)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many envelopes wait in the outbox.
pub fn outbox_len(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)
}

/// Records that `peer` holds (room, author) up to `hi` with no gap; returns the ids of envelopes
/// whose holder count grew: (id, seq).
pub fn record_hold(
    txn: &Transaction<'_>,
    peer: &str,
    room: &[u8; 16],
    author: &[u8; 32],
    hi: u64,
) -> Result<Vec<([u8; 32], u64)>, StoreError> {
    let before: u64 = txn
        .prepare_cached("SELECT hi FROM peer_holds WHERE room = ?1 AND author = ?2 AND peer = ?3")?
        .query_row(params![room, author, peer], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64;
    if hi <= before {
        return Ok(Vec::new());
    }
    txn.prepare_cached(
        "INSERT INTO peer_holds (room, author, peer, hi) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (room, author, peer) DO UPDATE SET hi = excluded.hi",
    )?
    .execute(params![room, author, peer, hi as i64])?;
    txn.prepare_cached("DELETE FROM outbox WHERE room = ?1 AND author = ?2 AND seq <= ?3")?
        .execute(params![room, author, hi as i64])?;
    let mut stmt = txn.prepare_cached(
        "SELECT id, seq FROM envelopes WHERE room = ?1 AND author = ?2 AND seq > ?3 AND seq <= ?4 AND kind IN (2, 4)",
    )?;
    let rows = stmt.query_map(params![room, author, before as i64, hi as i64], |r| {
        Ok((blob(r, 0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Where a local author's envelope stands on its way to other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Stored here; no peer has been handed it yet.
    Queued,
    /// Gossip handed it to at least one peer; none has confirmed holding it yet.
    Sent,
    /// This many peers confirmed holding it (in a sync summary).
    Held(u64),
}

/// Where one envelope stands; `None` for an envelope not held.
pub fn delivery(conn: &Connection, id: &[u8; 32]) -> Result<Option<Delivery>, StoreError> {
    let Some((room, author, seq)) = conn
        .prepare_cached("SELECT room, author, seq FROM envelopes WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((blob::<16>(r, 0)?, blob::<32>(r, 1)?, r.get::<_, i64>(2)?))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let peers: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM peer_holds WHERE room = ?1 AND author = ?2 AND hi >= ?3",
        )?
        .query_row(params![room, author, seq], |r| r.get(0))?;
    if peers > 0 {
        return Ok(Some(Delivery::Held(peers as u64)));
    }
    let queued = conn
        .prepare_cached("SELECT 1 FROM outbox WHERE room = ?1 AND author = ?2 AND seq = ?3")?
        .query_row(params![room, author, seq], |_| Ok(()))
        .optional()?
        .is_some();
    // Not queued and held by nobody we know of: stored before this node kept an outbox.
    Ok(Some(if queued {
        Delivery::Queued
    } else {
        Delivery::Sent
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The runs of consecutive numbers in `held`, as (lo, hi).
    fn runs(held: &std::collections::BTreeSet<u64>) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &seq in held {
            match runs.last_mut() {
                Some((_, hi)) if *hi + 1 == seq => *hi = seq,
                _ => runs.push((seq, seq)),
            }
        }
        runs
    }

    proptest! {
        /// Whatever order numbers arrive in, the stored runs are exactly the runs of the numbers
        /// held: each new number joins the run ending below it and the one starting above it.
        #[test]
        fn ranges_are_the_runs_of_what_is_held(
            order in proptest::collection::vec(1u64..60, 1..80),
        ) {
            let mut conn = Connection::open_in_memory().unwrap();
            super::super::migrate(&mut conn).unwrap();
            let txn = conn.transaction().unwrap();
            let mut held = std::collections::BTreeSet::new();
            for seq in order {
                // Only a number stored for the first time extends the runs.
                if held.insert(seq) {
                    extend_ranges(&txn, &[1; 16], &[2; 32], seq).unwrap();
                }
            }
            let stored: Vec<(u64, u64)> = txn
                .prepare("SELECT lo, hi FROM seq_ranges ORDER BY lo")
                .unwrap()
                .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(stored, runs(&held));
        }
    }
}
