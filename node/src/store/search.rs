//! Full-text search: the on-disk FTS5 index of public messages, the in-memory index kind used for
//! an account's private messages, and turning what a person types into an FTS5 query.

use rusqlite::{Connection, Transaction, params};

use super::StoreError;

/// Most results one search returns.
pub const MAX_RESULTS: usize = 50;
/// How many of the newest matches are ranked.
pub const RECENT_MATCHES: usize = 2_000;

/// One hit: the message (room, id) and its rank (lower is better).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The message's room.
    pub room: [u8; 16],
    /// The message id.
    pub id: [u8; 32],
    /// FTS5 bm25 rank: lower is a better match.
    pub rank: f64,
}

/// The FTS5 query for what a person typed: every word must match, each as a prefix, so "hel wor"
/// finds "hello world". Words are quoted, so FTS5 operators in the input are plain text. `None`
/// when nothing searchable was typed.
pub fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Indexes a public message's text (also each new text an edit gives it).
pub fn index_public(
    txn: &Transaction<'_>,
    room: &[u8; 16],
    id: &[u8; 32],
    text: &str,
) -> Result<(), StoreError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    txn.prepare_cached("INSERT INTO public_search (text, room, id) VALUES (?1, ?2, ?3)")?
        .execute(params![text, room, id])?;
    Ok(())
}

/// Searches an FTS5 table named `table` (with `text, room, id` columns), best first, optionally
/// in one room.
pub fn query(
    conn: &Connection,
    table: &str,
    fts: &str,
    room: Option<&[u8; 16]>,
) -> Result<Vec<Hit>, StoreError> {
    // Ranking every match of a common word in a big index is slow (FTS5 scores each one), so
    // the best matches are chosen among the newest RECENT_MATCHES: doclists are in rowid order,
    // so those come cheap, and in a chat the newest matches are the ones people look for.
    let sql = format!(
        "SELECT room, id, rank FROM (
           SELECT room, id, rank, rowid FROM {table} WHERE {table} MATCH ?1 AND (?2 IS NULL OR room = ?2)
           ORDER BY rowid DESC LIMIT {RECENT_MATCHES})
         ORDER BY rank LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![fts, room, (MAX_RESULTS * 4) as i64], |r| {
        Ok(Hit {
            room: super::blob(r, 0)?,
            id: super::blob(r, 1)?,
            rank: r.get(2)?,
        })
    })?;
    let mut hits: Vec<Hit> = Vec::new();
    for hit in rows {
        let hit = hit?;
        // An edited message is indexed once per text: keep its best hit.
        if !hits.iter().any(|h| h.id == hit.id) {
            hits.push(hit);
        }
    }
    Ok(hits)
}

/// An in-memory index for one account's private messages: never written to disk.
pub fn private_index() -> Result<Connection, StoreError> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE VIRTUAL TABLE private_search USING fts5(
            text, room UNINDEXED, id UNINDEXED,
            tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');",
    )?;
    Ok(conn)
}

/// A private message row to index: (rowid, room, id, sealed content).
pub type PrivateRow = (i64, [u8; 16], [u8; 32], Vec<u8>);

/// `viewer`'s private message rows after `upto` (by rowid), oldest first, at most `limit`.
pub fn private_rows_after(
    conn: &Connection,
    viewer: &[u8; 32],
    upto: i64,
    limit: usize,
) -> Result<Vec<PrivateRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, room, id, sealed FROM messages
         WHERE viewer = ?1 AND rowid > ?2 AND sealed IS NOT NULL ORDER BY rowid LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![viewer, upto, limit as i64], |r| {
        Ok((r.get(0)?, super::blob(r, 1)?, super::blob(r, 2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_become_quoted_prefixes() {
        assert_eq!(fts_query("Hel wor").as_deref(), Some("\"hel\"* \"wor\"*"));
        assert_eq!(
            fts_query("NOT a OR \"b\"").as_deref(),
            Some("\"not\"* \"a\"* \"or\"* \"b\"*"),
            "operators are words"
        );
        assert_eq!(fts_query("  ?! "), None);
    }

    #[test]
    fn prefixes_match_and_ranks_order_results() {
        let conn = private_index().unwrap();
        for (i, text) in ["hello world", "world peace", "help wanted, hello hello"]
            .iter()
            .enumerate()
        {
            conn.execute(
                "INSERT INTO private_search (text, room, id) VALUES (?1, ?2, ?3)",
                params![text, [1u8; 16], [i as u8; 32]],
            )
            .unwrap();
        }
        let hits = query(&conn, "private_search", &fts_query("hel").unwrap(), None).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].id, [2u8; 32], "two matches rank first");
        let none = query(
            &conn,
            "private_search",
            &fts_query("hel").unwrap(),
            Some(&[9; 16]),
        )
        .unwrap();
        assert!(none.is_empty());
        let accents = query(&conn, "private_search", &fts_query("wörld").unwrap(), None).unwrap();
        assert_eq!(accents.len(), 2, "diacritics do not matter");
    }
}
