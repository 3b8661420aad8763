//! Full-text search: the on-disk FTS5 index of public messages, the in-memory index kind used for
//! an account's private messages, and turning what a person types into an FTS5 query.

use std::cell::Cell;

use rusqlite::{Connection, Transaction, params};

use super::StoreError;

/// Most results one search returns.
pub const MAX_RESULTS: usize = 50;
/// How many of the newest matches are ranked.
pub const RECENT_MATCHES: usize = 1_000;
/// Prefix lengths the FTS5 tables index (`prefix = '2 3'`): a longer prefix makes FTS5 merge the
/// doclists of every term it matches, all of them, before it can return the first row.
const INDEXED_PREFIX: usize = 3;
/// Candidates the fast path reads before leaving the query to FTS5 (see [`query`]).
const SCAN_BUDGET: usize = 8_000;
/// bm25's parameters, as FTS5 uses them.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// One hit: the message (room, id) and its rank (lower is better).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The message's room.
    pub room: [u8; 16],
    /// The message id.
    pub id: [u8; 32],
    /// bm25 rank: lower is a better match.
    pub rank: f64,
}

/// What a person typed, as words that each must match as a prefix: "hel wor" finds
/// "hello world". `None` when nothing searchable was typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms(Vec<String>);

impl Terms {
    /// The words of `input` (at most 16), lowercased.
    pub fn parse(input: &str) -> Option<Terms> {
        let words: Vec<String> = input
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(16)
            .map(str::to_lowercase)
            .collect();
        (!words.is_empty()).then_some(Terms(words))
    }

    /// The FTS5 query: each word quoted (FTS5 operators in the input are plain text), as a prefix.
    pub fn fts(&self) -> String {
        Self::quoted(self.0.iter().map(String::as_str))
    }

    /// A query FTS5 answers from its prefix index, for a superset of the matches: each word cut
    /// to [`INDEXED_PREFIX`] characters. `None` when that would change nothing, or when a word is
    /// not plain ASCII (then only FTS5's own tokenizer can tell what matches it).
    fn candidates(&self) -> Option<String> {
        if self.0.iter().any(|w| !w.is_ascii()) || self.0.iter().all(|w| w.len() <= INDEXED_PREFIX)
        {
            return None;
        }
        Some(Self::quoted(
            self.0.iter().map(|w| &w[..w.len().min(INDEXED_PREFIX)]),
        ))
    }

    fn quoted<'a>(words: impl Iterator<Item = &'a str>) -> String {
        words
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// For a text: `Some(None)` when it does not match, `Some(Some((count per word, tokens)))`
    /// when it does, and `None` when only FTS5 can tell (a letter outside ASCII or a combining
    /// mark: FTS5 folds case and Latin diacritics its own way).
    fn tally(&self, text: &str) -> Option<Option<(Vec<u32>, usize)>> {
        if text
            .chars()
            .any(|c| !c.is_ascii() && (c.is_alphanumeric() || is_mark(c)))
        {
            return None;
        }
        let mut counts = vec![0u32; self.0.len()];
        let mut tokens = 0;
        for token in text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            tokens += 1;
            let token = token.to_ascii_lowercase();
            for (word, count) in self.0.iter().zip(counts.iter_mut()) {
                if token.starts_with(word.as_str()) {
                    *count += 1;
                }
            }
        }
        Some(counts.iter().all(|c| *c > 0).then_some((counts, tokens)))
    }
}

/// Combining marks, which FTS5 drops from inside a token rather than splitting the token there.
fn is_mark(c: char) -> bool {
    matches!(
        c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

/// Public messages stored between indexing runs, on average: the writer indexes them once it has
/// answered a batch, so FTS5's cost per transaction (a new segment, merges) is paid once per
/// this many messages rather than once per commit.
const INDEX_EVERY: u64 = 256;
/// Unindexed messages past which a run is due. After a run the count restarts at a number drawn
/// below [`INDEX_EVERY`] ([`restart_count`]), so runs come every 128 to 384 messages: nodes
/// that store the same messages on one host (a test network, the benchmarks, a household's
/// nodes) do not all index at the same moment (docs/performance.md, "Session 26").
const INDEX_AT: u64 = INDEX_EVERY * 3 / 2;
/// Most messages one such run indexes, so that it holds up the next batch only briefly; the
/// rest waits for the next run (or the next search).
const INDEX_RUN: usize = 1024;

thread_local! {
    /// Public messages stored by the transaction this thread is running as the writer (an
    /// estimate: a rolled-back insert counts too, which only makes the next run come sooner).
    /// Whoever commits drains it into the writer's count ([`take_noted`]): a transaction runs on
    /// one thread, but not always the same one (see `Store::write_relaxed_now_then`).
    static NOTED: Cell<u64> = const { Cell::new(0) };
}

/// Counts a public message stored by the writer's transaction and not yet indexed.
pub(crate) fn note_unindexed() {
    NOTED.with(|n| n.set(n.get() + 1));
}

/// The public messages noted on this thread since the last call.
pub(super) fn take_noted() -> u64 {
    NOTED.with(|n| n.replace(0))
}

/// What a new writer assumes is pending: a run's worth, so that its first batch finds what an
/// earlier run of the node left unindexed.
pub(super) const UNINDEXED_AT_START: u64 = INDEX_AT;

/// Whether `unindexed` messages are enough for an indexing run.
pub(super) fn run_due(unindexed: u64) -> bool {
    unindexed >= INDEX_AT
}

/// Where the count of unindexed messages restarts after a run that indexed them all: drawn
/// below [`INDEX_EVERY`] (see [`INDEX_AT`]).
fn restart_count() -> u64 {
    crate::spread::draw_below(INDEX_EVERY as u32).map_or(INDEX_AT - INDEX_EVERY, u64::from)
}

/// Public messages past the search watermark, oldest first. `NOT INDEXED`: given the choice,
/// SQLite answers `viewer = zeroblob(32)` from the (viewer, id) key and sorts, which walks every
/// public message on each call (a search at a million messages took 130 ms); the rowid range
/// reads only the rows past the watermark.
pub(crate) const PENDING: &str = "SELECT rowid, room, id, text FROM messages NOT INDEXED
     WHERE rowid > ?1 AND viewer = zeroblob(32) ORDER BY rowid LIMIT ?2";

/// Indexes public messages stored beyond the search watermark (`search_progress`), oldest first,
/// at most `limit` of them, and moves the watermark past them. Returns how many it read.
pub fn index_pending(txn: &Transaction<'_>, limit: usize) -> Result<usize, StoreError> {
    let upto: i64 = txn
        .prepare_cached("SELECT upto FROM search_progress WHERE only = 0")?
        .query_row([], |r| r.get(0))?;
    let pending: Vec<(i64, [u8; 16], [u8; 32], String)> = txn
        .prepare_cached(PENDING)?
        .query_map(params![upto, limit as i64], |r| {
            Ok((r.get(0)?, super::blob(r, 1)?, super::blob(r, 2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    // Private rows are never indexed here: when fewer than `limit` public rows are pending, the
    // watermark moves past every row stored so far.
    let newest = if pending.len() < limit {
        txn.prepare_cached("SELECT coalesce(max(rowid), 0) FROM messages")?
            .query_row([], |r| r.get(0))?
    } else {
        pending.last().map_or(upto, |(rowid, ..)| *rowid)
    };
    for (_, room, id, text) in &pending {
        index_public(txn, room, id, text)?;
    }
    if newest > upto {
        txn.prepare_cached("UPDATE search_progress SET upto = ?1 WHERE only = 0")?
            .execute([newest])?;
    }
    Ok(pending.len())
}

/// Called by the writer once a batch's callers have their answers: indexes a run of pending
/// public messages, in a transaction of its own, when enough are pending (`unindexed`, which it
/// updates). Returns whether more are pending after the run (the writer runs another while no
/// job waits).
pub(super) fn index_run(writer: &mut Connection, unindexed: &mut u64) -> bool {
    if !run_due(*unindexed) {
        return false;
    }
    let run = (|| -> Result<usize, StoreError> {
        let txn = writer.transaction()?;
        let done = index_pending(&txn, INDEX_RUN)?;
        txn.commit()?;
        Ok(done)
    })();
    match run {
        // A short run indexed everything pending (a search may have done it already).
        Ok(done) if done < INDEX_RUN => {
            *unindexed = restart_count();
            false
        }
        // A full run: more may be pending (also when the count started as a guess), so the
        // next call looks again.
        Ok(done) => {
            *unindexed = unindexed.saturating_sub(done as u64).max(INDEX_AT);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "indexing for search failed; the next run retries");
            false
        }
    }
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
/// in one room. The best matches are chosen among the newest [`RECENT_MATCHES`]: in a chat the
/// newest matches are the ones people look for, and ranking every match of a common word in a big
/// index is slow.
pub fn query(
    conn: &Connection,
    table: &str,
    terms: &Terms,
    room: Option<&[u8; 16]>,
) -> Result<Vec<Hit>, StoreError> {
    if let Some(candidates) = terms.candidates()
        && let Some(hits) = scan_recent(conn, table, terms, &candidates, room)?
    {
        return Ok(hits);
    }
    ranked_by_fts(conn, table, terms, room)
}

/// FTS5 ranks (bm25) the newest matches itself.
fn ranked_by_fts(
    conn: &Connection,
    table: &str,
    terms: &Terms,
    room: Option<&[u8; 16]>,
) -> Result<Vec<Hit>, StoreError> {
    // FTS5 ranks (bm25) the newest matches itself. Doclists are in rowid order, so those come
    // cheap, except for words longer than the prefix index, whose doclists FTS5 merges first.
    let sql = format!(
        "SELECT room, id, rank FROM (
           SELECT room, id, rank, rowid FROM {table} WHERE {table} MATCH ?1 AND (?2 IS NULL OR room = ?2)
           ORDER BY rowid DESC LIMIT {RECENT_MATCHES})
         ORDER BY rank LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![terms.fts(), room, (MAX_RESULTS * 4) as i64], |r| {
        Ok(Hit {
            room: super::blob(r, 0)?,
            id: super::blob(r, 1)?,
            rank: r.get(2)?,
        })
    })?;
    Ok(best_per_message(rows.collect::<Result<Vec<_>, _>>()?))
}

/// The fast path for words longer than the prefix index: FTS5 lists candidates newest first from
/// its prefix index (each word cut short), and each candidate's text is checked and scored here,
/// with bm25 over the matches found. `None` (leave it to FTS5) when a text needs FTS5's
/// tokenizer, or when [`SCAN_BUDGET`] candidates held too few matches: then the long words are
/// rare, and FTS5's merge of their doclists is cheap.
fn scan_recent(
    conn: &Connection,
    table: &str,
    terms: &Terms,
    candidates: &str,
    room: Option<&[u8; 16]>,
) -> Result<Option<Vec<Hit>>, StoreError> {
    let sql = format!(
        "SELECT room, id, text FROM {table} WHERE {table} MATCH ?1 AND (?2 IS NULL OR room = ?2)
         ORDER BY rowid DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![candidates, room])?;
    let mut matches = Vec::new();
    let mut scanned = 0;
    while let Some(row) = rows.next()? {
        scanned += 1;
        if scanned > SCAN_BUDGET {
            return Ok(None);
        }
        let text: String = row.get(2)?;
        match terms.tally(&text) {
            None => return Ok(None),
            Some(None) => {}
            Some(Some(tally)) => {
                let (room, id) = (super::blob::<16>(row, 0)?, super::blob::<32>(row, 1)?);
                matches.push((room, id, tally));
                if matches.len() == RECENT_MATCHES {
                    break;
                }
            }
        }
    }
    let average = matches
        .iter()
        .map(|(_, _, (_, tokens))| *tokens as f64)
        .sum::<f64>()
        / (matches.len().max(1) as f64);
    let mut hits: Vec<Hit> = matches
        .into_iter()
        .map(|(room, id, (counts, tokens))| {
            let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * tokens as f64 / average.max(1.0));
            let score: f64 = counts
                .iter()
                .map(|&tf| f64::from(tf) * (BM25_K1 + 1.0) / (f64::from(tf) + norm))
                .sum();
            // Lower is better, as with FTS5's rank.
            Hit {
                room,
                id,
                rank: -score,
            }
        })
        .collect();
    // A stable sort: among equal scores the newest stays first.
    hits.sort_by(|a, b| a.rank.total_cmp(&b.rank));
    hits.truncate(MAX_RESULTS * 4);
    Ok(Some(best_per_message(hits)))
}

/// An edited message is indexed once per text: keeps each message's best hit.
fn best_per_message(ranked: Vec<Hit>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    for hit in ranked {
        if !hits.iter().any(|h| h.id == hit.id) {
            hits.push(hit);
        }
    }
    hits
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

/// The rows of [`private_rows_after`]: a seek to (viewer, upto) in the partial index of sealed
/// rows (migration 0016), not a walk over every row the account has.
pub(crate) const PRIVATE_AFTER: &str = "SELECT rowid, room, id, sealed
     FROM messages INDEXED BY messages_sealed_by_viewer
     WHERE viewer = ?1 AND rowid > ?2 AND sealed IS NOT NULL ORDER BY rowid LIMIT ?3";

/// `viewer`'s private message rows after `upto` (by rowid), oldest first, at most `limit`.
pub fn private_rows_after(
    conn: &Connection,
    viewer: &[u8; 32],
    upto: i64,
    limit: usize,
) -> Result<Vec<PrivateRow>, StoreError> {
    let mut stmt = conn.prepare_cached(PRIVATE_AFTER)?;
    let rows = stmt.query_map(params![viewer, upto, limit as i64], |r| {
        Ok((r.get(0)?, super::blob(r, 1)?, super::blob(r, 2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
