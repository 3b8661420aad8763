//! WAL checkpoints beside the writer, not inside its commits.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the log past 1,000 pages:
//! that commit copies every page changed since the last checkpoint into the database file and
//! syncs it, milliseconds during which the jobs of that commit wait for their answers. Instead,
//! a WAL hook on the writer's connection (which replaces the automatic checkpoint) notes the
//! log's size after each commit, and:
//!
//! - past about [`BACKGROUND_PAGES`] (a threshold drawn for each stretch of log, so that nodes
//!   storing the same messages do not checkpoint together), the writer wakes the checkpoint
//!   thread, which copies the log into the database on a connection of its own, at the lowest
//!   CPU priority (on Linux), while the writer goes on committing. Once it has copied all of
//!   it, the writer's next transaction starts the log over. Messages no longer wait behind a
//!   checkpoint, and a machine's idle moments pay for it.
//! - past [`WRITER_PAGES`], the background pass could not keep up (a steady stream of commits
//!   leaves it behind, or a busy CPU starves it): the writer stops it and checkpoints itself,
//!   once it has answered the batch's callers, with no commit running beside it, so the
//!   checkpoint catches up and the next transaction starts the log over. The log stays bounded.
//!   (A checkpoint thread alone, tried first, rarely caught up under load: the log grew and
//!   the CPU per message rose.)

use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use rusqlite::{Connection, ErrorCode};

use super::StoreError;

/// Log size, in pages, past which the checkpoint thread is woken (SQLite's own default), on
/// average: each stretch of log draws its first threshold between [`EARLIEST_WAKE`] and
/// [`LATEST_WAKE`] (see [`first_wake`]).
const BACKGROUND_PAGES: c_int = 1000;
/// Where a stretch's first threshold may fall.
const EARLIEST_WAKE: c_int = BACKGROUND_PAGES / 2;
const LATEST_WAKE: c_int = BACKGROUND_PAGES * 3 / 2;
/// Log size, in pages (8 MiB of 4 KiB pages), past which the writer checkpoints itself: the
/// thread was woken at least 500 pages earlier ([`LATEST_WAKE`]) and did not copy it all. (At
/// 4,000 pages, a 10-node mesh on 2 busy cores, where the thread rarely runs, delivered 15 to
/// 25 % less: a larger log costs every commit and read.)
pub(super) const WRITER_PAGES: c_int = 2000;

thread_local! {
    /// The log's size in pages after the writer's last commit, as the WAL hook reported it. The
    /// hook runs on the committing thread, which reads it right after ([`take_log_pages`]): the
    /// writer's thread, or one that ran a job in its place.
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn wal_hook(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|log| log.set(pages));
    Ok(())
}

/// The log's size after the last commit on this thread, 0 if nothing was committed since the
/// last call.
pub(super) fn take_log_pages() -> c_int {
    LOG_PAGES.with(|log| log.replace(0))
}

/// Replaces the writer connection's automatic checkpoint with [`Checkpoints::after_commit`].
pub(super) fn install(writer: &Connection) {
    writer.wal_hook(Some(wal_hook));
}

/// The checkpoint thread, owned by the writer: dropping it stops the thread and waits for it.
pub(super) struct Checkpoints {
    wake: Option<mpsc::SyncSender<()>>,
    stop: rusqlite::InterruptHandle,
    /// Held by the thread through each pass: the writer, taking over, waits on it for a pass it
    /// stopped to let go. (Stopping one takes effect between pages, but not inside a `fsync`,
    /// which on a busy disk outlasted a few milliseconds of retries: the log then grew by one more
    /// commit past [`WRITER_PAGES`].)
    pass: Arc<Mutex<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The log size at which the thread is woken next.
    next_wake: c_int,
    /// The log size after the last commit (a smaller one means the log started over).
    log_pages: c_int,
}

impl Checkpoints {
    /// Starts the checkpoint thread on a connection of its own to `path`.
    pub(super) fn start(path: &Path) -> Result<Checkpoints, StoreError> {
        let conn = super::open_connection(path, false)?;
        let stop = conn.get_interrupt_handle();
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let pass = Arc::new(Mutex::new(()));
        let held = pass.clone();
        let thread = std::thread::Builder::new()
            .name("chatly-store-checkpoint".into())
            .spawn(move || {
                crate::priority::lower_this_thread("checkpoint thread");
                while woken.recv().is_ok() {
                    let _pass = held.lock().unwrap_or_else(PoisonError::into_inner);
                    match checkpoint(&conn) {
                        // Stopped by the writer, which checkpoints itself now.
                        Err(e)
                            if matches!(
                                e.sqlite_error_code(),
                                Some(ErrorCode::OperationInterrupted)
                            ) => {}
                        Err(e) => tracing::warn!(error = %e, "background checkpoint failed"),
                        Ok(()) => {}
                    }
                }
            })
            .map_err(|e| StoreError::BadRow(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpoints {
            wake: Some(wake),
            stop,
            pass,
            thread: Some(thread),
            next_wake: first_wake(),
            log_pages: 0,
        })
    }

    /// Called once a batch's callers have their answers, with the log's size `pages` after its
    /// commit ([`take_log_pages`]; 0 when nothing was committed): wakes the checkpoint thread
    /// each time the log has grown by [`BACKGROUND_PAGES`]. Returns true when the log has grown
    /// past [`WRITER_PAGES`]: the writer must then [`take_over`] (see the module docs).
    ///
    /// [`take_over`]: Checkpoints::take_over
    pub(super) fn after_commit(&mut self, pages: c_int) -> bool {
        if pages == 0 {
            return false;
        }
        if pages < self.log_pages {
            // The log started over (after a checkpoint that copied all of it).
            self.next_wake = first_wake();
        }
        self.log_pages = pages;
        if pages >= WRITER_PAGES {
            // The next commit after the take-over starts the log over.
            return true;
        }
        if pages >= self.next_wake {
            // One pass per stretch of log: a pass started at every commit under load would
            // copy the same busy pages over and over.
            if let Some(wake) = &self.wake {
                // A wake-up already waiting covers this one.
                let _ = wake.try_send(());
            }
            self.next_wake = pages + BACKGROUND_PAGES;
        }
        false
    }

    /// Stops a background pass and checkpoints on the writer's connection.
    pub(super) fn take_over(&self, writer: &Connection) {
        self.stop.interrupt();
        let _pass = self.pass.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = checkpoint(writer) {
            tracing::warn!(error = %e, "checkpoint failed; the next one retries");
        }
    }
}

/// A stretch of log's first threshold, drawn anew for each: nodes that store the same messages
/// (every node of a room) fill their logs in step, and with one fixed threshold they all
/// checkpointed at the same moment. On one machine (a test network, the benchmarks) ten
/// checkpoints syncing at once took 12 to 37 ms each, against 1 to 7 ms alone, and made the
/// slowest deliveries of a 10-node mesh (docs/performance.md, "Session 17").
fn first_wake() -> c_int {
    // Without randomness the mean threshold does: spreading is a nicety, not a need.
    crate::spread::draw_below((LATEST_WAKE - EARLIEST_WAKE) as u32)
        .map_or(BACKGROUND_PAGES, |drawn| EARLIEST_WAKE + drawn as c_int)
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.stop.interrupt();
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies what it can of the log into the database without waiting for anyone (`PASSIVE`).
/// Busy when another connection's checkpoint holds the checkpoint lock.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    // The row is (busy, log pages, pages copied).
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(0))?;
    match busy {
        0 => Ok(()),
        _ => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::Store;
    use super::*;

    /// Commits `count` transactions of one 8 KiB row each: on the writer thread, or `here`,
    /// on this thread whenever the writer is idle (`Store::write_relaxed_now_then`).
    async fn fill(store: &Store, count: usize, here: bool) {
        store
            .write(|txn| Ok(txn.execute_batch("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")?))
            .await
            .expect("table");
        let insert = |txn: &rusqlite::Transaction<'_>| {
            txn.execute("INSERT INTO ballast (b) VALUES (zeroblob(8192))", [])?;
            Ok(())
        };
        for _ in 0..count {
            let inserted = if here {
                store.write_relaxed_now_then(insert, |_| {}).await
            } else {
                store.write(insert).await
            };
            inserted.expect("insert");
        }
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[tokio::test]
    async fn the_log_reaches_the_database_without_the_writer() {
        log_reaches_the_database(false).await;
    }

    /// The same when the commits run outside the writer thread: whoever commits reads the log's
    /// size and wakes the checkpoint thread.
    #[tokio::test]
    async fn the_log_reaches_the_database_when_commits_run_elsewhere() {
        log_reaches_the_database(true).await;
    }

    async fn log_reaches_the_database(here: bool) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        let store = Store::open(&path).expect("open");
        let before = size(&path);
        // Past the latest background threshold, short of the writer's: only the thread copies.
        // (A commit writes about four pages: the row's two overflow pages, its leaf, page 1.)
        fill(&store, (LATEST_WAKE as usize + 100) / 4, here).await;
        // The thread is woken once, at the threshold, and copies the distinct pages the log
        // holds by then: about 2 MiB of rows. Half of that can only have come from it (the
        // file grew by barely more than 2 MiB at times, so that was no margin).
        let written = 1024 * 1024;
        let started = Instant::now();
        while size(&path) < before + written {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the database file holds {} bytes: the log was not copied into it",
                size(&path)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
