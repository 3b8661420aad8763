//! The checkpointer thread: it copies the write-ahead log into the database file on a
//! connection of its own, so the writer never stalls on that copy.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the log past 1,000 pages:
//! that commit copies every page changed since the last checkpoint into the database file and
//! syncs it, milliseconds during which the writer answers nobody (the tail of the latency
//! figures). Instead, a WAL hook on the writer's connection notes when the log has grown past
//! the same size, and the writer then wakes this thread, which runs a passive checkpoint: it
//! never blocks the writer, and the writer starts the log over once a checkpoint has caught up.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::mpsc;

use rusqlite::Connection;

use super::StoreError;

/// Log size, in pages, past which a checkpoint is asked for (SQLite's own default).
const CHECKPOINT_PAGES: c_int = 1000;

/// Log size past which the writer checkpoints itself, as SQLite would: a passive checkpoint
/// only restarts the log once it has caught up between two commits, and a long burst of
/// writes could keep it from ever doing so.
const WRITER_CHECKPOINT_PAGES: c_int = 16 * CHECKPOINT_PAGES;

thread_local! {
    /// The log's size in pages after the writer's last commit, as the WAL hook reported it (the
    /// hook runs on the committing thread).
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn wal_hook(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|log| log.set(pages));
    Ok(())
}

/// The handle the writer keeps: a wake-up for the thread, and the thread to wait for.
pub(super) struct Checkpointer {
    wake: mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    /// Hooks the writer's connection (which replaces its automatic checkpoint) and starts the
    /// thread on `own`, a second read-write connection to the same file.
    pub(super) fn start(writer: &Connection, own: Connection) -> Result<Self, StoreError> {
        writer.wal_hook(Some(wal_hook));
        let (wake, asked) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("chatly-store-checkpointer".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let done = own.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "checkpoint failed; the next one retries");
                    }
                }
            })
            .map_err(|e| StoreError::BadRow(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer { wake, thread })
    }

    /// Called by the writer after each commit, on its connection: wakes the thread when the log
    /// is full (a wake-up already pending is enough); checkpoints on `writer` itself when the
    /// thread has fallen far behind.
    pub(super) fn after_commit(&self, writer: &Connection) {
        let pages = LOG_PAGES.with(|log| log.replace(0));
        if pages >= WRITER_CHECKPOINT_PAGES {
            let done = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if let Err(e) = done {
                tracing::warn!(error = %e, "checkpoint failed; the next one retries");
            }
        } else if pages >= CHECKPOINT_PAGES {
            let _ = self.wake.try_send(());
        }
    }

    /// Stops the thread once its current checkpoint is done; its connection closes with it.
    pub(super) fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}
