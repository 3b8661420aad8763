//! WAL checkpoints after the answers, not inside a commit.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the log past 1,000 pages:
//! that commit copies every page changed since the last checkpoint into the database file and
//! syncs it, milliseconds during which the jobs of that commit wait for their answers (the tail
//! of the latency figures). Instead, a WAL hook on the writer's connection (which replaces the
//! automatic checkpoint) notes the log's size after each commit, and the writer checkpoints once
//! it has answered the batch's callers. It still checkpoints alone, with no commit running
//! beside it, so the checkpoint always catches up and the next transaction starts the log over.
//! (A checkpoint on a thread of its own, tried first, rarely caught up under a steady stream of
//! commits: the log grew and the CPU per message rose.)

use std::cell::Cell;
use std::ffi::c_int;

use rusqlite::Connection;

/// Log size, in pages, past which the writer checkpoints (SQLite's own default).
const CHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// The log's size in pages after the writer's last commit, as the WAL hook reported it (the
    /// hook runs on the committing thread, the writer's).
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn wal_hook(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|log| log.set(pages));
    Ok(())
}

/// Replaces the writer connection's automatic checkpoint with [`after_answers`].
pub(super) fn install(writer: &Connection) {
    writer.wal_hook(Some(wal_hook));
}

/// Called by the writer once a batch's callers have their answers: checkpoints when the last
/// commit left the log past the threshold.
pub(super) fn after_answers(writer: &Connection) {
    if LOG_PAGES.with(|log| log.replace(0)) >= CHECKPOINT_PAGES {
        let done = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = done {
            tracing::warn!(error = %e, "checkpoint failed; the next one retries");
        }
    }
}
