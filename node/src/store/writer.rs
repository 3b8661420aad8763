//! The writer: one connection, and the only one that writes. The writer thread drains the
//! waiting jobs, runs each in its own savepoint of one transaction (a job alone in its batch
//! needs none: see [`Alone`]), commits once, and only then answers each job (group commit).
//!
//! A lone relaxed job may run on the thread that has it instead, when nothing is queued and the
//! writer is idle ([`Writer::run_batch`] under the same lock): the hops to the writer thread and
//! back cost more than such a job (docs/performance.md, "Session 25"). Whoever commits a
//! transaction also reads what its jobs noted on that thread (a control envelope stored, public
//! messages to index, the log's size) into the writer's state, so the notes never cross threads.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, Checkpoints};
use super::{MAX_BATCH, Store, StoreError, WriteFn, search};

/// What the writer thread is sent: a job, or a reminder that work after commits is due (a
/// transaction run elsewhere left a checkpoint or an indexing run to do).
pub(super) enum Work {
    Job(Job),
    Housekeeping,
}

/// A unit of work for the writer, and whether its commit must reach the disk before it is
/// answered (see [`Store::write_relaxed`](super::Store::write_relaxed)).
pub(super) struct Job {
    pub(super) durable: bool,
    pub(super) run: Run,
}

/// Runs a job in the writer's transaction, told whether it is the only job of its batch.
pub(super) type Run = Box<dyn FnOnce(&Transaction<'_>, Alone) -> Ran + Send>;

/// Whether a job is the only one in its transaction. A job alone needs no savepoint of its own:
/// if it fails, the writer rolls the whole transaction back, which undoes its writes and only
/// its. That spares the savepoint's copy of every page the job changes (one page per B-tree
/// written: a dozen for a sealed message arriving), the commonest case in a quiet room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alone {
    Yes,
    No,
}

/// What running a job left: how to answer its caller once the transaction ended, and whether it
/// failed (its writes undone).
pub(super) struct Ran {
    pub(super) answer: Answer,
    pub(super) failed: bool,
}

/// Tells a job's caller how its transaction ended.
pub(super) type Answer = Box<dyn FnOnce(Commit) + Send>;

/// How a batch's transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    Done,
    Failed,
    DiskFull,
}

/// What the store's handles share with the writer.
#[derive(Default)]
pub(super) struct Shared {
    /// Where each transaction's duration is reported (set once metrics exist).
    pub(super) timing: std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>,
    /// How many writes have failed for a full disk (a job's own or a whole commit).
    pub(super) disk_full: AtomicU64,
    /// Moves on after every transaction that stored a control envelope.
    pub(super) control_version: AtomicU64,
    /// Jobs sent to the writer thread and not yet answered: while there are any, a job may not
    /// run elsewhere, or it could overtake one queued before it.
    pub(super) queued: AtomicUsize,
}

/// The writer's connection and what it keeps between transactions; behind a mutex, held by
/// whichever thread runs a transaction.
pub(super) struct Writer {
    conn: Connection,
    checkpoints: Checkpoints,
    /// Whether the connection commits with `synchronous=FULL` now.
    full: bool,
    /// Public messages stored and not yet indexed for search (an estimate).
    unindexed: u64,
    /// The log outgrew the checkpoint thread: the writer thread checkpoints it itself.
    take_over_due: bool,
}

/// The writer, shared by the writer thread and the store's handles; `None` once closed.
pub(super) type SharedWriter = Arc<Mutex<Option<Writer>>>;

thread_local! {
    /// Whether the writer's open transaction, run on this thread, has stored a control envelope.
    static CONTROL_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the open transaction stored a control envelope: room states read before it no
/// longer hold once it commits ([`Store::control_version`](super::Store::control_version)).
pub(crate) fn note_control_write() {
    CONTROL_WRITTEN.with(|written| written.set(true));
}

/// Whether the calling thread is running the writer's transaction and it has stored a control
/// envelope: its view of some room's state then differs from every committed one.
pub fn control_written_in_this_transaction() -> bool {
    CONTROL_WRITTEN.with(Cell::get)
}

/// Runs `f` in a savepoint of `txn`: its writes are undone if it fails, and only its. Savepoints
/// nest: a job's own work may run parts of itself this way.
pub(crate) fn run_in_savepoint<R>(
    txn: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    // Cached statements: every job opens and releases one, so parsing them each time shows.
    let run = |sql: &str| -> Result<(), StoreError> {
        txn.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    run("SAVEPOINT job")?;
    match f(txn) {
        Ok(value) => {
            run("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            run("ROLLBACK TO job")?;
            run("RELEASE job")?;
            Err(e)
        }
    }
}

impl Writer {
    pub(super) fn new(conn: Connection, checkpoints: Checkpoints) -> Writer {
        Writer {
            conn,
            checkpoints,
            full: true,
            unindexed: search::UNINDEXED_AT_START,
            take_over_due: false,
        }
    }

    /// Runs `batch` in one transaction, commits it, and answers each job; empties `batch`.
    pub(super) fn run_batch(&mut self, batch: &mut Vec<Job>, shared: &Shared) {
        // Notes left on this thread by anything but a transaction of this writer are not ours.
        CONTROL_WRITTEN.with(|written| written.set(false));
        search::take_noted();
        let durable = batch.iter().any(|job| job.durable);
        if durable != self.full {
            let level = if durable { "FULL" } else { "NORMAL" };
            match self.conn.pragma_update(None, "synchronous", level) {
                Ok(()) => self.full = durable,
                Err(e) => tracing::error!(error = %e, "could not set synchronous={level}"),
            }
        }
        let mut answers = Vec::with_capacity(batch.len());
        let started = std::time::Instant::now();
        let alone = if batch.len() == 1 {
            Alone::Yes
        } else {
            Alone::No
        };
        let commit = match self.conn.transaction() {
            Ok(txn) => {
                let mut failed = false;
                for job in batch.drain(..) {
                    let ran = (job.run)(&txn, alone);
                    failed |= ran.failed;
                    answers.push(ran.answer);
                }
                if failed && alone == Alone::Yes {
                    // The job answers with its own error whatever the rollback does.
                    if let Err(e) = txn.rollback() {
                        tracing::error!(error = %e, "store rollback failed");
                    }
                    Commit::Failed
                } else {
                    commit(txn)
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store could not begin a transaction");
                batch.clear();
                Commit::Failed
            }
        };
        if let Some(histogram) = shared.timing.get() {
            histogram.observe(started.elapsed().as_secs_f64());
        }
        if commit == Commit::DiskFull {
            // Counted before anyone is answered or a later job runs (see `disk_full_count`).
            shared.disk_full.fetch_add(1, Ordering::SeqCst);
        }
        // Committed or rolled back, before anyone is answered: whoever acts on the answer reads
        // room states afresh.
        if CONTROL_WRITTEN.with(|written| written.replace(false)) {
            shared.control_version.fetch_add(1, Ordering::SeqCst);
        }
        self.unindexed += search::take_noted();
        let log_pages = checkpoint::take_log_pages();
        for answer in answers {
            answer(commit);
        }
        self.take_over_due |= self.checkpoints.after_commit(log_pages);
    }

    /// Whether work after commits waits: a checkpoint the writer must do itself, or an indexing
    /// run.
    pub(super) fn housekeeping_due(&self) -> bool {
        self.take_over_due || search::run_due(self.unindexed)
    }

    /// Does the work after commits that is due: the checkpoint, then one indexing run. Returns
    /// whether more indexing is pending.
    fn housekeep(&mut self) -> bool {
        if std::mem::take(&mut self.take_over_due) {
            self.checkpoints.take_over(&self.conn);
        }
        let more = search::index_run(&mut self.conn, &mut self.unindexed);
        self.take_over_due |= self.checkpoints.after_commit(checkpoint::take_log_pages());
        more
    }
}

/// Where a job's caller hears how it ended.
pub(super) type Answered<R> = oneshot::Receiver<Result<R, StoreError>>;

/// What a job's caller awaits: the job's answer, unless it could not be queued.
pub(super) async fn outcome<R>(
    queued: Result<(), StoreError>,
    answer: Answered<R>,
) -> Result<R, StoreError> {
    queued?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// How jobs reach the writer: queued for its thread, or run where they are.
impl Store {
    /// Queues a job for the writer thread at once; the future waits for its answer.
    pub(super) fn submit<R, F, T>(
        &self,
        durable: bool,
        f: F,
        then: T,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static + use<R, F, T>
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: FnOnce(&R) + Send + 'static,
    {
        let (job, answer) = self.job(durable, f, then);
        outcome(self.queue(job), answer)
    }

    /// Sends `job` to the writer thread.
    pub(super) fn queue(&self, job: Job) -> Result<(), StoreError> {
        // Counted before it is sent: the writer may answer it before this returns.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        self.jobs.send(Work::Job(job)).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            StoreError::Closed
        })
    }

    /// A job running `f` (in a savepoint unless alone) and then `then` once committed, and where
    /// its caller hears the outcome.
    pub(super) fn job<R, F, T>(&self, durable: bool, f: F, then: T) -> (Job, Answered<R>)
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: FnOnce(&R) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let shared = self.shared.clone();
        let run = Box::new(move |txn: &Transaction<'_>, alone: Alone| -> Ran {
            let result = match alone {
                Alone::Yes => f(txn),
                Alone::No => run_in_savepoint(txn, f),
            };
            if result.as_ref().is_err_and(StoreError::is_disk_full) {
                shared.disk_full.fetch_add(1, Ordering::SeqCst);
            }
            let failed = result.is_err();
            let answer: Answer = Box::new(move |commit: Commit| {
                let answer = match (result, commit) {
                    (Ok(value), Commit::Done) => Ok(value),
                    (Ok(_), Commit::DiskFull) => Err(StoreError::DiskFull),
                    (Ok(_), Commit::Failed) => Err(StoreError::Closed),
                    (Err(e), _) => Err(e),
                };
                if let Ok(value) = &answer {
                    then(value);
                }
                let _ = tx.send(answer);
            });
            Ran { answer, failed }
        });
        (Job { durable, run }, rx)
    }

    /// Runs `job` on this thread if nothing is queued and the writer is idle; gives it back
    /// otherwise. Nothing queued means no job sent before this one is still to run, so this one
    /// overtakes none.
    pub(super) fn run_here(&self, job: Job) -> Result<(), Job> {
        if self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Err(job);
        }
        let mut guard = match self.writer.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(job),
        };
        let Some(writer) = guard.as_mut() else {
            return Err(job);
        };
        writer.run_batch(&mut vec![job], &self.shared);
        if writer.housekeeping_due() {
            // The writer thread does it, off this thread; a closed store has no more to do.
            let _ = self.jobs.send(Work::Housekeeping);
        }
        Ok(())
    }
}

/// Locks the writer. A job that panicked while it held the lock was rolled back as the panic
/// left its transaction; the writer itself is whole.
pub(super) fn lock(writer: &Mutex<Option<Writer>>) -> std::sync::MutexGuard<'_, Option<Writer>> {
    writer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread's loop: returns when every handle to the store is gone, having closed the
/// connection.
pub(super) fn writer_loop(
    writer: SharedWriter,
    mut rx: mpsc::UnboundedReceiver<Work>,
    shared: &Shared,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(work) = rx.blocking_recv() {
        if let Work::Job(job) = work {
            batch.push(job);
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Work::Job(job)) => batch.push(job),
                Ok(Work::Housekeeping) => {}
                Err(_) => break,
            }
        }
        let mut guard = lock(&writer);
        let Some(writer) = guard.as_mut() else {
            break;
        };
        if !batch.is_empty() {
            let jobs = batch.len();
            writer.run_batch(&mut batch, shared);
            shared.queued.fetch_sub(jobs, Ordering::SeqCst);
        }
        // A backlog (a large catch-up) is indexed run after run while no job waits, so the
        // first search after it does not pay for it all; a waiting job goes first, and a store
        // being closed does not wait for it (the next start carries on).
        while writer.housekeeping_due() && writer.housekeep() && rx.is_empty() && !rx.is_closed() {}
    }
    // The checkpoint thread's connection closes first: the writer's, the last one, then
    // checkpoints the whole log into the database as it closes.
    if let Some(Writer {
        conn, checkpoints, ..
    }) = lock(&writer).take()
    {
        drop(checkpoints);
        drop(conn);
    }
}

/// Commits a batch's transaction.
fn commit(txn: Transaction<'_>) -> Commit {
    match txn.commit() {
        Ok(()) => Commit::Done,
        Err(e) => {
            tracing::error!(error = %e, "store commit failed");
            if StoreError::from(e).is_disk_full() {
                Commit::DiskFull
            } else {
                Commit::Failed
            }
        }
    }
}
