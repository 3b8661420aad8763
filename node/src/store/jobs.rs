//! How jobs reach the writer: queued for its thread, or run on the thread that has them; and how
//! a job's caller hears the outcome.
//!
//! A job's follow-up (`then`: telling the event bus what was stored) runs once its transaction
//! committed, except for a job run with [`Show::BeforeCommit`]: then it runs as soon as the job
//! succeeded, and the commit comes a moment later (see [`Writer::run_batch`](super::writer)).

use std::sync::atomic::Ordering;

use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::writer::{self, Shared, SharedWriter, Work};
use super::{Store, StoreError, ThenFn, WriteFn};

/// A unit of work for the writer, whether its commit must reach the disk before it is answered
/// (see [`Store::write_relaxed`]), and when its follow-up may run.
pub(super) struct Job {
    pub(super) durable: bool,
    pub(super) show: Show,
    pub(super) run: Run,
}

/// When a job's follow-up may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Show {
    /// Once its transaction committed.
    AfterCommit,
    /// As soon as the job succeeded, when it runs alone on the thread that has it: the commit
    /// is left for a moment (see [`Store::write_relaxed_shown_first`]).
    BeforeCommit,
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

/// What running a job left: its outcome, to be told how the transaction ended, and whether it
/// failed (its writes undone).
pub(super) struct Ran {
    pub(super) outcome: Box<dyn Outcome>,
    pub(super) failed: bool,
    /// The writes a job alone left for later ([`write_after_show`]).
    pub(super) later: Option<Later>,
}

/// A job's result, waiting for its transaction to end.
pub(super) trait Outcome: Send {
    /// Runs the job's follow-up now, ahead of the commit; [`Outcome::answer`] then does not
    /// run it again. Only for a job that succeeded.
    fn show(&mut self);
    /// Tells the job's caller how its transaction ended, after running its follow-up if the
    /// transaction committed and it has not run yet.
    fn answer(self: Box<Self>, commit: Commit);
}

/// How a batch's transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    Done,
    Failed,
    DiskFull,
}

/// A job's result, its follow-up while it has not run, and where its caller waits.
struct Finished<R, T> {
    result: Result<R, StoreError>,
    then: Option<T>,
    caller: oneshot::Sender<Result<R, StoreError>>,
}

impl<R: Send, T: FnOnce(&R) + Send> Outcome for Finished<R, T> {
    fn show(&mut self) {
        if let (Ok(value), Some(then)) = (&self.result, self.then.take()) {
            then(value);
        }
    }

    fn answer(self: Box<Self>, commit: Commit) {
        let Finished {
            result,
            then,
            caller,
        } = *self;
        let answer = match (result, commit) {
            (Ok(value), Commit::Done) => Ok(value),
            (Ok(_), Commit::DiskFull) => Err(StoreError::DiskFull),
            (Ok(_), Commit::Failed) => Err(StoreError::Closed),
            (Err(e), _) => Err(e),
        };
        if let (Ok(value), Some(then)) = (&answer, then) {
            then(value);
        }
        let _ = caller.send(answer);
    }
}

/// Writes a job left for later in its transaction ([`write_after_show`]).
pub(crate) type Later = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

thread_local! {
    /// The writes the job running on this thread left for later.
    static LATER: std::cell::RefCell<Vec<Later>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Leaves `writes` of the job running on this thread for later in its transaction: after its
/// follow-up has run when it is shown before its commit ([`Show::BeforeCommit`]), right after the
/// job otherwise. For writes that the job's result and everything read before the commit can do
/// without: a read that comes after the show commits the transaction, and so these writes,
/// first. If they fail, the whole job fails with them.
pub(crate) fn write_after_show(
    writes: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
) {
    LATER.with(|later| later.borrow_mut().push(Box::new(writes)));
}

/// The writes the job just run on this thread left for later, as one.
pub(super) fn take_later() -> Option<Later> {
    let later = LATER.with(|later| std::mem::take(&mut *later.borrow_mut()));
    (!later.is_empty()).then(|| -> Later {
        Box::new(move |conn: &Connection| later.into_iter().try_for_each(|writes| writes(conn)))
    })
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

/// Commits the transaction a job left open, if one is, when dropped: what a caller of
/// [`Store::write_relaxed_shown_first`] holds until it awaits the answer (or drops it unawaited).
/// It does not wait for the writer: whoever holds it commits what was left open first.
pub(super) struct CommitOnDrop(pub(super) Store);

impl Drop for CommitOnDrop {
    fn drop(&mut self) {
        self.0.commit_left_open(Wait::No);
    }
}

/// Whether committing what was left open waits for the writer while another thread holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// A read, which must find what was shown.
    Yes,
    /// The job's own caller on an async task, which must not block: the writer's holder
    /// commits it (every holder commits what was left open before anything else).
    No,
}

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
        T: ThenFn<R>,
    {
        let (job, answer) = self.job(durable, Show::AfterCommit, f, then);
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

    /// A job running `f` (in a savepoint unless alone) and then `then` (when `show` says), and
    /// where its caller hears the outcome.
    pub(super) fn job<R, F, T>(
        &self,
        durable: bool,
        show: Show,
        f: F,
        then: T,
    ) -> (Job, Answered<R>)
    where
        R: Send + 'static,
        F: WriteFn<R>,
        T: ThenFn<R>,
    {
        let (caller, answer) = oneshot::channel();
        let shared = self.shared.clone();
        let run = Box::new(move |txn: &Transaction<'_>, alone: Alone| -> Ran {
            let (result, later) = match alone {
                Alone::Yes => {
                    let result = f(txn);
                    (result, take_later())
                }
                // In a batch, what a job leaves for later is done in its savepoint.
                Alone::No => {
                    let result = writer::run_in_savepoint(txn, |txn| {
                        let result = f(txn);
                        let later = take_later();
                        let value = result?;
                        later.map_or(Ok(()), |later| later(txn))?;
                        Ok(value)
                    });
                    (result, None)
                }
            };
            if result.as_ref().is_err_and(StoreError::is_disk_full) {
                shared.disk_full.fetch_add(1, Ordering::SeqCst);
            }
            let failed = result.is_err();
            let outcome = Box::new(Finished {
                result,
                then: Some(then),
                caller,
            });
            Ran {
                outcome,
                failed,
                later: later.filter(|_| !failed),
            }
        });
        (Job { durable, show, run }, answer)
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

    /// Runs `job` on this thread if it may ([`Store::run_here`]), or queues it for the writer
    /// thread, where it commits with its batch and is shown after.
    pub(super) fn run_here_or_queue(&self, job: Job) -> Result<(), StoreError> {
        match self.run_here(job) {
            Ok(()) => Ok(()),
            Err(mut job) => {
                job.show = Show::AfterCommit;
                self.queue(job)
            }
        }
    }

    /// Commits the transaction a job run with [`Show::BeforeCommit`] left open, if one is, and
    /// answers that job. Cheap when none is.
    pub(super) fn commit_left_open(&self, wait: Wait) {
        commit_left_open(&self.writer, &self.shared, wait);
    }
}

/// [`Store::commit_left_open`], for a caller that holds the writer and its shared state rather
/// than a whole store handle (a read, on its blocking thread).
pub(super) fn commit_left_open(writer: &SharedWriter, shared: &Shared, wait: Wait) {
    if !shared.left_open.load(Ordering::SeqCst) {
        return;
    }
    let mut guard = match wait {
        Wait::Yes => writer::lock(writer),
        Wait::No => match writer.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        },
    };
    if let Some(writer) = guard.as_mut() {
        writer.commit_left_open(shared);
    }
}
