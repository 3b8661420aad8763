//! The SQLite store: one writer thread, several readers, numbered migrations.
//!
//! - [`Store::write`] sends a closure to the single writer thread. The writer drains every job
//!   that is waiting, runs each inside its own savepoint of **one** transaction, commits once
//!   (`synchronous=FULL`), and only then answers each job: group commit. A job's failure rolls back
//!   its savepoint only. [`Store::write_relaxed_now_then`] runs a lone relaxed job on the calling
//!   thread instead when the writer is idle ([`writer`]), and
//!   [`Store::write_relaxed_shown_first`] shows it before its commit.
//! - [`Store::read`] runs a closure on a pooled read connection on a blocking thread (WAL lets
//!   readers run beside the writer).
//! - [`connections`] opens connections, checks a file before trusting it, and migrates it.
//! - Row types and queries live in the submodules: [`accounts`], [`envelopes`], [`messages`],
//!   [`users`], [`private`], [`sync`]. The store knows rows; it knows nothing of the network.

pub mod accounts;
mod checkpoint;
mod connections;
pub mod envelopes;
pub mod files;
mod jobs;
pub mod messages;
pub mod ops;
pub mod private;
pub mod reads;
pub mod search;
pub mod sync;
pub mod users;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};
use tokio::sync::mpsc;

#[cfg(test)]
use connections::MIGRATIONS;
use connections::{check_integrity, migrate, open_connection};
pub(crate) use jobs::write_after_show;
use jobs::{CommitOnDrop, Show};
pub use writer::control_written_in_this_transaction;
pub(crate) use writer::run_in_savepoint;
use writer::{Shared, SharedWriter, Work, Writer, writer_loop};

impl StoreError {
    /// Whether the disk (or the database's size limit) is full: the write was rolled back and
    /// nothing is lost; it works again once there is room.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }
}

/// How many read connections the pool keeps, and so how many reads run at once. Reads beyond
/// that wait for a connection: opening one per read under load (the schema parsed anew, SQLite's
/// allocator mutex contended, the connection closed again) cost more than the wait.
const READERS: usize = 6;

/// Most jobs folded into one transaction: bounds the latency of the first job in a batch.
const MAX_BATCH: usize = 512;

/// Errors of the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file is not a Chatly database or is damaged.
    #[error(
        "the database at {path} is damaged or not a Chatly database: {reason}. It is left as it is: \
         restore it from a backup, or move it away to start with an empty one (peers send back \
         what they hold, but accounts hosted here need the old file)"
    )]
    Corrupt {
        /// Which file.
        path: String,
        /// What SQLite reported.
        reason: String,
    },
    /// The database was written by a newer Chatly.
    #[error(
        "the database has schema version {found}, newer than this Chatly understands ({known})"
    )]
    TooNew {
        /// Schema version in the file.
        found: usize,
        /// Newest this build knows.
        known: usize,
    },
    /// The disk is full: the transaction was rolled back.
    #[error("the disk is full")]
    DiskFull,
    /// The writer thread is gone (the node is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A stored row could not be decoded.
    #[error("bad row: {0}")]
    BadRow(String),
}

/// A job for the writer: it runs in the writer's transaction and gives its result.
pub trait WriteFn<R>: FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static {}

impl<R, F> WriteFn<R> for F where
    F: FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static
{
}

/// What runs once a job's result may be told (see [`Store::queue_write_then`]): it publishes
/// the job's events.
pub trait ThenFn<R>: FnOnce(&R) + Send + 'static {}

impl<R, T> ThenFn<R> for T where T: FnOnce(&R) + Send + 'static {}

/// A cheap, cloneable handle to the store.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::UnboundedSender<Work>,
    /// The writer's connection, run by the writer thread or, for a lone relaxed job when it is
    /// idle, by the thread that has the job.
    writer: SharedWriter,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per pooled reader: a read holds one while it runs.
    reader_permits: Arc<tokio::sync::Semaphore>,
    path: Arc<std::path::PathBuf>,
    /// The metrics, counters and queue length the writer keeps.
    shared: Arc<Shared>,
    /// Becomes true once the writer thread has closed its connection (see [`Store::closed`]).
    closed: tokio::sync::watch::Receiver<bool>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, checks it and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut writer = open_connection(path, false)?;
        // Until the file is known good, closing must not checkpoint the WAL into it: a damaged
        // file is left exactly as it was found, for whoever recovers it.
        writer.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        check_integrity(&writer, path)?;
        writer.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            false,
        )?;
        migrate(&mut writer)?;
        checkpoint::install(&writer);
        let checkpoints = checkpoint::Checkpoints::start(path)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared::default());
        let writer = Arc::new(Mutex::new(Some(Writer::new(writer, checkpoints))));
        let (jobs, rx) = mpsc::unbounded_channel();
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        std::thread::Builder::new()
            .name("chatly-store-writer".into())
            .spawn({
                let (writer, shared) = (writer.clone(), shared.clone());
                move || {
                    // Returns when every `Store` clone is gone; the connection closes with it.
                    writer_loop(writer, rx, &shared);
                    let _ = closed_tx.send(true);
                }
            })
            .map_err(|e| StoreError::BadRow(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            jobs,
            writer,
            readers: Arc::new(Mutex::new(readers)),
            reader_permits: Arc::new(tokio::sync::Semaphore::new(READERS)),
            path: Arc::new(path.to_path_buf()),
            shared,
            closed,
        })
    }

    /// Resolves once the writer has finished its last job and closed its connection, which
    /// happens when every clone of this store has been dropped. Holds no clone itself.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.clone();
        async move {
            let _ = closed.wait_for(|done| *done).await;
        }
    }

    /// Reports every write transaction's duration (begin to commit) into `histogram`.
    pub fn observe_writes(&self, histogram: prometheus_client::metrics::histogram::Histogram) {
        let _ = self.shared.timing.set(histogram);
    }

    /// Runs `f` in the writer's next transaction and answers once that transaction committed
    /// and reached the disk (`synchronous=FULL`): what an acknowledgement promises.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: WriteFn<R>,
    {
        self.submit(true, f, |_: &R| {}).await
    }

    /// Like [`Store::write`], but a batch made only of relaxed jobs commits with
    /// `synchronous=NORMAL`: it survives a crash of the process (kill -9) at once, and power loss
    /// from the next durable commit on (which syncs the whole WAL). For what can be had again,
    /// such as envelopes received from peers, which sync fetches anew.
    pub async fn write_relaxed<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: WriteFn<R>,
    {
        self.submit(false, f, |_: &R| {}).await
    }

    /// Like [`Store::write`], but the job is queued before this returns: jobs queued one after
    /// the other run in that order, whenever their futures are awaited. `then` runs on the writer
    /// thread once the transaction committed, before the caller hears, and also when the caller
    /// has gone (its future dropped): for what must follow the commit whatever happens to the
    /// caller, such as telling the event bus.
    pub fn queue_write_then<R, F, T>(
        &self,
        f: F,
        then: T,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static + use<R, F, T>
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: ThenFn<R>,
    {
        self.submit(true, f, then)
    }

    /// Like [`Store::write_relaxed`], but the job is queued before this returns (callable
    /// from any thread; the future only waits for the answer), and `then` runs on the writer
    /// thread as soon as the transaction committed, before the caller hears: for what must
    /// follow the commit at once, such as telling the event bus, without waiting for the
    /// caller's task to wake.
    pub fn queue_write_relaxed_then<R, F, T>(
        &self,
        f: F,
        then: T,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static + use<R, F, T>
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: ThenFn<R>,
    {
        self.submit(false, f, then)
    }

    /// Like [`Store::queue_write_relaxed_then`], but when no job is queued and the writer is idle,
    /// the job runs and commits on the calling thread before this returns (and `then` with it),
    /// alone in its transaction: a hop to the writer thread and back costs more than a job of a
    /// few rows. For small jobs, on threads where blocking for them is acceptable.
    pub fn write_relaxed_now_then<R, F, T>(
        &self,
        f: F,
        then: T,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static + use<R, F, T>
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: ThenFn<R>,
    {
        let (job, answer) = self.job(false, Show::AfterCommit, f, then);
        jobs::outcome(self.run_here_or_queue(job), answer)
    }

    /// Like [`Store::write_relaxed_now_then`], but when the job runs on the calling thread, `then`
    /// runs as soon as the job succeeded, before its commit, and the commit waits until the
    /// returned future is first polled or dropped: the caller shows what was stored first and
    /// commits when it has nothing more urgent to do. Until then, the next use of the store
    /// commits it first (a write, a read, work after commits), so whatever `then` tells is
    /// found by every read that follows. If that commit fails, `then` has run all the same and
    /// the caller hears the failure: for what comes again when it is not stored, such as gossip
    /// (sync fetches it again). A job that stores a control envelope commits at once.
    pub fn write_relaxed_shown_first<R, F, T>(
        &self,
        f: F,
        then: T,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static + use<R, F, T>
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: ThenFn<R>,
    {
        let (job, answer) = self.job(false, Show::BeforeCommit, f, then);
        let queued = self.run_here_or_queue(job);
        let commit_on_drop = CommitOnDrop(self.clone());
        async move {
            drop(commit_on_drop);
            jobs::outcome(queued, answer).await
        }
    }

    /// The version of the rooms' control logs: it moves on after every transaction that stored
    /// a control envelope (committed or not), before that transaction's callers hear of it. A
    /// room state read while it was `v` holds for as long as it is still `v`, on any connection,
    /// except inside the writer's transaction once that has stored a control envelope itself
    /// ([`control_written_in_this_transaction`]).
    pub fn control_version(&self) -> u64 {
        self.shared.control_version.load(Ordering::SeqCst)
    }

    /// How many writes have failed for a full disk so far. A job refused because one queued
    /// before it failed can tell, by comparing this with its value when it was queued, that the
    /// cause was a full disk.
    pub fn disk_full_count(&self) -> u64 {
        self.shared.disk_full.load(Ordering::SeqCst)
    }

    /// Runs `f` on a read connection on a blocking thread.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let permit = self
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let (readers, path) = (self.readers.clone(), self.path.clone());
        let (writer, shared) = (self.writer.clone(), self.shared.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // What an event told is found by any read after it (`write_relaxed_shown_first`).
            jobs::commit_left_open(&writer, &shared, jobs::Wait::Yes);
            // With a permit a pooled connection is free; opening one is only the fallback
            // after a connection was lost to a panic.
            let pooled = readers.lock().map_err(|_| StoreError::Closed)?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&path, true)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock()
                && pool.len() < READERS
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// The network-time correction in ms (see [`crate::clock`]); 0 while this node's clock agrees
/// with its peers'. Process-wide: one node per process in production, and the in-process test
/// and bench nodes share one real clock, so theirs stays 0.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Milliseconds since the Unix epoch by this machine's clock, uncorrected.
pub fn local_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, network-corrected: the time unit of every stored
/// timestamp, of what this node signs, and of every freshness check.
pub fn now_ms() -> u64 {
    let offset = CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed);
    local_now_ms().saturating_add_signed(offset)
}

/// Sets the network-time correction; returns the previous one.
pub fn set_clock_offset(offset_ms: i64) -> i64 {
    CLOCK_OFFSET_MS.swap(offset_ms, std::sync::atomic::Ordering::Relaxed)
}

/// Reads a fixed-size blob column.
pub(crate) fn blob<const N: usize>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<[u8; N]> {
    let bytes: Vec<u8> = row.get(idx)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            format!("expected {N} bytes").into(),
        )
    })
}

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod tests;
