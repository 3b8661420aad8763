//! The writer thread: it drains the waiting jobs, runs each in its own savepoint of one
//! transaction (a job alone in its batch needs none: see [`Alone`]), commits once, and only then
//! answers each job (group commit).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, Transaction};
use tokio::sync::mpsc;

use super::{MAX_BATCH, StoreError};

/// A unit of work for the writer, and whether its commit must reach the disk before it is
/// answered (see [`Store::write_relaxed`]).
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

thread_local! {
    /// Whether the writer's open transaction has stored a control envelope (set on the writer's
    /// thread, the only one that writes).
    static CONTROL_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the open transaction stored a control envelope: room states read before it no
/// longer hold once it commits ([`Store::control_version`](super::Store::control_version)).
pub(crate) fn note_control_write() {
    CONTROL_WRITTEN.with(|written| written.set(true));
}

/// Whether the calling thread is the writer in a transaction that has stored a control envelope:
/// its view of some room's state then differs from every committed one.
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

pub(super) fn writer_loop(
    mut conn: Connection,
    mut checkpoints: super::checkpoint::Checkpoints,
    mut rx: mpsc::UnboundedReceiver<Job>,
    timing: &std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>,
    disk_full: &AtomicU64,
    control_version: &AtomicU64,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut full = true;
    while rx.blocking_recv().map(|job| batch.push(job)).is_some() {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let durable = batch.iter().any(|job| job.durable);
        if durable != full {
            let level = if durable { "FULL" } else { "NORMAL" };
            match conn.pragma_update(None, "synchronous", level) {
                Ok(()) => full = durable,
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
        let commit = match conn.transaction() {
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
        if let Some(histogram) = timing.get() {
            histogram.observe(started.elapsed().as_secs_f64());
        }
        if commit == Commit::DiskFull {
            // Counted before anyone is answered or a later job runs (see `disk_full_count`).
            disk_full.fetch_add(1, Ordering::SeqCst);
        }
        // Committed or rolled back, before anyone is answered: whoever acts on the answer reads
        // room states afresh.
        if CONTROL_WRITTEN.with(|written| written.replace(false)) {
            control_version.fetch_add(1, Ordering::SeqCst);
        }
        for answer in answers {
            answer(commit);
        }
        // A backlog (a large catch-up) is indexed run after run while no job waits, so the
        // first search after it does not pay for it all; a waiting job goes first, and a store
        // being closed does not wait for it (the next start carries on).
        while super::search::after_answers(&mut conn) && rx.is_empty() && !rx.is_closed() {
            checkpoints.after_answers(&conn);
        }
        checkpoints.after_answers(&conn);
    }
    // The checkpoint thread's connection closes first: the writer's, the last one, then
    // checkpoints the whole log into the database as it closes.
    drop(checkpoints);
    drop(conn);
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
