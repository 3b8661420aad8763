//! The writer: one connection, and the only one that writes. The writer thread drains the
//! waiting jobs, runs each in its own savepoint of one transaction (a job alone in its batch
//! needs none: see [`Alone`]), commits once, and only then answers each job (group commit).
//!
//! A lone relaxed job may run on the thread that has it instead, when nothing is queued and the
//! writer is idle ([`Writer::run_batch`] under the same lock): the hops to the writer thread and
//! back cost more than such a job (docs/performance.md, "Session 25"). Whoever commits a
//! transaction also reads what its jobs noted on that thread (a control envelope stored, public
//! messages to index, the log's size) into the writer's state, so the notes never cross threads.
//!
//! Such a job may also be shown before it commits ([`Show::BeforeCommit`]): its follow-up runs
//! as soon as it succeeded, and its transaction is left open, the lock released, until its caller
//! commits it a moment later. Every other use of the store commits it first: the next batch, work
//! after commits, closing, and every read ([`Store::read`](super::Store::read)), so nothing read
//! after an event misses what the event told.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, DropBehavior, Transaction};
use tokio::sync::mpsc;

use super::checkpoint::{self, Checkpoints};
use super::jobs::{Alone, Commit, Job, Later, Outcome, Show, take_later};
use super::{MAX_BATCH, StoreError, search};

/// What the writer thread is sent: a job, or a reminder that work after commits is due (a
/// transaction run elsewhere left a checkpoint or an indexing run to do).
pub(super) enum Work {
    Job(Job),
    Housekeeping,
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
    /// Whether a job's transaction is left open, shown and not yet committed.
    pub(super) left_open: AtomicBool,
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
    /// The job whose transaction is left open, shown before its commit.
    left_open: Option<LeftOpen>,
}

/// A job shown before its commit, its transaction still open.
struct LeftOpen {
    outcome: Box<dyn Outcome>,
    /// The writes the job left for after its show ([`write_after_show`](super::write_after_show)).
    later: Option<Later>,
    /// How long the job took, for the transaction's duration: the wait before its commit is not
    /// the store's.
    ran_for: Duration,
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
            left_open: None,
        }
    }

    /// Runs `batch` in one transaction, commits it, and answers each job; empties `batch`. A lone
    /// job to be shown before its commit that succeeded and stored no control envelope is shown
    /// instead, and its transaction left open ([`Writer::commit_left_open`]).
    pub(super) fn run_batch(&mut self, batch: &mut Vec<Job>, shared: &Shared) {
        self.commit_left_open(shared);
        // Notes left on this thread by anything but a transaction of this writer are not ours.
        CONTROL_WRITTEN.with(|written| written.set(false));
        search::take_noted();
        take_later();
        let durable = batch.iter().any(|job| job.durable);
        if durable != self.full {
            let level = if durable { "FULL" } else { "NORMAL" };
            match self.conn.pragma_update(None, "synchronous", level) {
                Ok(()) => self.full = durable,
                Err(e) => tracing::error!(error = %e, "could not set synchronous={level}"),
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let started = Instant::now();
        let (alone, show) = match batch.as_slice() {
            [job] => (Alone::Yes, job.show),
            _ => (Alone::No, Show::AfterCommit),
        };
        let commit = match self.conn.transaction() {
            Ok(mut txn) => {
                let mut failed = false;
                // What a job alone left for later (a job in a batch did it in its savepoint).
                let mut later = None;
                for job in batch.drain(..) {
                    let ran = (job.run)(&txn, alone);
                    failed |= ran.failed;
                    later = ran.later;
                    outcomes.push(ran.outcome);
                }
                let leave_open = show == Show::BeforeCommit
                    && !failed
                    && !durable
                    // A control envelope changes room states, which are read afresh once the
                    // version moves: such a job commits at once.
                    && !control_written_in_this_transaction();
                let mut later_failed = None;
                if !leave_open
                    && let Some(later) = later.take()
                    && let Err(e) = later(&txn)
                {
                    tracing::warn!(error = %e, "a job's later writes failed; it is undone");
                    later_failed = Some(e);
                    failed = true;
                }
                if failed && alone == Alone::Yes {
                    // The job answers with its own error whatever the rollback does.
                    if let Err(e) = txn.rollback() {
                        tracing::error!(error = %e, "store rollback failed");
                    }
                    match later_failed {
                        Some(e) if e.is_disk_full() => Commit::DiskFull,
                        _ => Commit::Failed,
                    }
                } else if leave_open && let Some(mut outcome) = outcomes.pop() {
                    // Raised before anyone hears: a read the show prompts finds it and waits
                    // for this thread's lock, then commits what is left open.
                    shared.left_open.store(true, Ordering::SeqCst);
                    outcome.show();
                    txn.set_drop_behavior(DropBehavior::Ignore);
                    drop(txn);
                    self.unindexed += search::take_noted();
                    self.left_open = Some(LeftOpen {
                        outcome,
                        later,
                        ran_for: started.elapsed(),
                    });
                    return;
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
        // Committed or rolled back, before anyone is answered: whoever acts on the answer reads
        // room states afresh.
        if CONTROL_WRITTEN.with(|written| written.replace(false)) {
            shared.control_version.fetch_add(1, Ordering::SeqCst);
        }
        self.after_transaction(commit, started.elapsed(), outcomes, shared);
    }

    /// Commits the transaction a job left open after it was shown, if one is, and answers that
    /// job. A failed commit is rolled back: the job's caller hears it, and what was shown of it
    /// comes again once it is stored (gossip is fetched again by sync).
    pub(super) fn commit_left_open(&mut self, shared: &Shared) {
        let Some(LeftOpen {
            outcome,
            later,
            ran_for,
        }) = self.left_open.take()
        else {
            return;
        };
        let started = Instant::now();
        let later = later.map_or(Ok(()), |later| later(&self.conn));
        let commit = match later.and_then(|()| Ok(self.conn.execute_batch("COMMIT")?)) {
            Ok(()) => Commit::Done,
            Err(e) => {
                tracing::error!(error = %e, "store commit failed");
                if !self.conn.is_autocommit()
                    && let Err(e) = self.conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(error = %e, "store rollback failed");
                }
                if e.is_disk_full() {
                    Commit::DiskFull
                } else {
                    Commit::Failed
                }
            }
        };
        shared.left_open.store(false, Ordering::SeqCst);
        self.after_transaction(commit, ran_for + started.elapsed(), vec![outcome], shared);
    }

    /// What follows every transaction: its duration reported, a full disk counted, its jobs
    /// answered, the log's size handed to the checkpoints.
    fn after_transaction(
        &mut self,
        commit: Commit,
        took: Duration,
        outcomes: Vec<Box<dyn Outcome>>,
        shared: &Shared,
    ) {
        if let Some(histogram) = shared.timing.get() {
            histogram.observe(took.as_secs_f64());
        }
        if commit == Commit::DiskFull {
            // Counted before anyone is answered or a later job runs (see `disk_full_count`).
            shared.disk_full.fetch_add(1, Ordering::SeqCst);
        }
        self.unindexed += search::take_noted();
        let log_pages = checkpoint::take_log_pages();
        for outcome in outcomes {
            outcome.answer(commit);
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
    fn housekeep(&mut self, shared: &Shared) -> bool {
        self.commit_left_open(shared);
        if std::mem::take(&mut self.take_over_due) {
            self.checkpoints.take_over(&self.conn);
        }
        let more = search::index_run(&mut self.conn, &mut self.unindexed);
        self.take_over_due |= self.checkpoints.after_commit(checkpoint::take_log_pages());
        more
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
        // Whoever holds the writer commits what a job left open before anything else: its
        // caller does not wait for the lock (`Wait::No`).
        writer.commit_left_open(shared);
        if !batch.is_empty() {
            let jobs = batch.len();
            writer.run_batch(&mut batch, shared);
            shared.queued.fetch_sub(jobs, Ordering::SeqCst);
        }
        // A backlog (a large catch-up) is indexed run after run while no job waits, so the
        // first search after it does not pay for it all; a waiting job goes first, and a store
        // being closed does not wait for it (the next start carries on).
        while writer.housekeeping_due()
            && writer.housekeep(shared)
            && rx.is_empty()
            && !rx.is_closed()
        {}
    }
    // The checkpoint thread's connection closes first: the writer's, the last one, then
    // checkpoints the whole log into the database as it closes.
    let mut guard = lock(&writer);
    if let Some(writer) = guard.as_mut() {
        writer.commit_left_open(shared);
    }
    if let Some(Writer {
        conn, checkpoints, ..
    }) = guard.take()
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
            commit_failure(e)
        }
    }
}

/// How a transaction whose commit failed ended.
fn commit_failure(e: rusqlite::Error) -> Commit {
    if StoreError::from(e).is_disk_full() {
        Commit::DiskFull
    } else {
        Commit::Failed
    }
}
