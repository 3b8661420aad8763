//! A lone relaxed job run on the calling thread (`Store::write_relaxed_now_then`): when it does,
//! that it never overtakes a job queued before it, and that the work after commits (indexing,
//! checkpoints) still happens.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::*;

/// Waits until nothing is queued and the writer thread has let go of the writer (it may still be
/// doing the work after its last commit): a job then runs where it is called.
async fn until_idle(store: &Store) {
    let started = Instant::now();
    while store.shared.queued.load(Ordering::SeqCst) != 0 || store.writer.try_lock().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the writer stays busy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Appends `tag` to a table of its own and returns the row's place.
fn append(txn: &Transaction<'_>, tag: &str) -> Result<i64, StoreError> {
    txn.execute_batch("CREATE TABLE IF NOT EXISTS appended (tag TEXT)")?;
    txn.execute("INSERT INTO appended (tag) VALUES (?1)", [tag])?;
    Ok(txn.last_insert_rowid())
}

/// With nothing queued and the writer idle, the job runs and commits on the calling thread
/// before the call returns, and what follows the commit has run by then too.
#[tokio::test]
async fn a_lone_job_runs_on_the_calling_thread_when_the_writer_is_idle() {
    let (_dir, store) = open();
    store.write(|_| Ok(())).await.expect("first write");
    until_idle(&store).await;
    let followed = Arc::new(AtomicBool::new(false));
    let flag = followed.clone();
    let caller = std::thread::current().id();
    let stored = store.write_relaxed_now_then(
        move |txn| {
            append(txn, "here")?;
            Ok(std::thread::current().id())
        },
        move |_| flag.store(true, Ordering::SeqCst),
    );
    assert!(
        followed.load(Ordering::SeqCst),
        "committed before the call returned"
    );
    assert_eq!(
        stored.await.expect("stored"),
        caller,
        "ran on the caller's thread"
    );
    let count = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM appended", [], |r| r.get::<_, i64>(0))?))
        .await
        .expect("read");
    assert_eq!(count, 1, "committed: another connection sees it");
}

/// A job queued before runs first, whether the writer thread has started on it or not; the later
/// one is then queued behind it, not run where it was called.
#[tokio::test]
async fn a_job_queued_before_is_never_overtaken() {
    let (_dir, store) = open();
    store
        .write(|txn| append(txn, "setup"))
        .await
        .expect("setup");
    for round in 0..20 {
        // Held here, the writer thread waits for the lock with the first job in hand.
        let held = writer::lock(&store.writer);
        let first =
            store.queue_write_then(move |txn| append(txn, &format!("first {round}")), |_| {});
        drop(held);
        // The writer thread has just been let go: most rounds, this call comes before it takes
        // the lock, which would be free for this thread.
        let second = store
            .write_relaxed_now_then(move |txn| append(txn, &format!("second {round}")), |_| {});
        let (first, second) = (first.await.expect("first"), second.await.expect("second"));
        assert!(
            first < second,
            "round {round}: the later job overtook the earlier"
        );
    }
}

/// A job that fails alone leaves nothing behind, here as on the writer thread: its writes are
/// rolled back, its caller hears its error, and what follows a commit does not run.
#[tokio::test]
async fn a_failing_job_run_here_leaves_nothing_behind() {
    let (_dir, store) = open();
    store
        .write(|txn| append(txn, "setup"))
        .await
        .expect("setup");
    until_idle(&store).await;
    let followed = Arc::new(AtomicBool::new(false));
    let flag = followed.clone();
    let caller = std::thread::current().id();
    let here = Arc::new(AtomicBool::new(false));
    let ran_here = here.clone();
    let failed = store
        .write_relaxed_now_then(
            move |txn| {
                ran_here.store(std::thread::current().id() == caller, Ordering::SeqCst);
                append(txn, "undone")?;
                txn.execute_batch("SELECT * FROM no_such_table")?;
                Ok(())
            },
            move |_| flag.store(true, Ordering::SeqCst),
        )
        .await;
    assert!(
        matches!(failed, Err(StoreError::Sqlite(_))),
        "its own error: {failed:?}"
    );
    assert!(!followed.load(Ordering::SeqCst), "nothing to follow");
    assert!(here.load(Ordering::SeqCst), "it ran on the caller's thread");
    let tags = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT tag FROM appended")?;
            let tags = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(tags.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("read");
    assert_eq!(tags, ["setup"]);
    // The writer is whole: the next job, here or on its thread, commits.
    store
        .write_relaxed_now_then(|txn| append(txn, "after"), |_| {})
        .await
        .expect("here");
    store
        .write(|txn| append(txn, "queued"))
        .await
        .expect("queued");
}

/// Public messages stored by jobs run outside the writer thread are indexed for search all the
/// same: the thread that commits hands the run to the writer thread, which does it without
/// another job to wake it.
#[tokio::test]
async fn messages_stored_here_are_indexed_by_the_writer_thread() {
    let (_dir, store) = open();
    store.write(|_| Ok(())).await.expect("first write");
    // The first write's run restarts the count at a number drawn below 256, so the next run is
    // due once 129 to 384 messages wait: after the second, third or fourth batch, indexing 200,
    // 300 or 400. A run after the second batch draws again, and the 200 behind it may not be
    // enough for another, so 200 is all that is certain.
    for batch in 0..4u32 {
        store
            .write_relaxed_now_then(
                move |txn| {
                    for i in 0..100u32 {
                        let n = batch * 100 + i;
                        let mut row = message(0, u64::from(n));
                        row.id[..4].copy_from_slice(&n.to_be_bytes());
                        row.text = format!("indexed word{n}");
                        messages::insert(txn, &row)?;
                    }
                    Ok(())
                },
                |_| {},
            )
            .await
            .expect("stored");
    }
    until_indexed(&store, 200).await;
}

#[path = "shown_tests.rs"]
mod shown;
