//! A lone relaxed job shown before its commit (`Store::write_relaxed_shown_first`): its
//! follow-up runs at once, and its transaction commits when its caller awaits or drops the
//! answer, or when the store is next used, whichever comes first; a read never misses it.

use super::*;

/// How many rows of `appended` carry `tag` for a connection of its own to the database at
/// `path`, outside the store: what is committed, without the read barrier of [`Store::read`].
fn count_committed(path: &std::path::Path, tag: &str) -> i64 {
    let conn = Connection::open(path).expect("own connection");
    conn.query_row("SELECT count(*) FROM appended WHERE tag = ?1", [tag], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count")
}

/// Whether `tag` is committed in `store`'s database.
fn committed(store: &Store, tag: &str) -> bool {
    count_committed(store.path.as_path(), tag) == 1
}

/// How many rows of `appended` carry one of `tags`, read through the store (which commits what
/// was left open first).
async fn read_count(store: &Store, tags: &[&'static str]) -> i64 {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_string()).collect();
    store
        .read(move |c| {
            let mut found = 0;
            for tag in &tags {
                found +=
                    c.query_row("SELECT count(*) FROM appended WHERE tag = ?1", [tag], |r| {
                        r.get::<_, i64>(0)
                    })?;
            }
            Ok(found)
        })
        .await
        .expect("read")
}

/// A store with the `appended` table, its writer idle.
async fn ready() -> (tempfile::TempDir, Store) {
    let (dir, store) = open();
    store
        .write(|txn| append(txn, "setup"))
        .await
        .expect("setup");
    until_idle(&store).await;
    (dir, store)
}

/// The follow-up runs before the call returns and before the commit; awaiting the answer
/// commits it.
#[tokio::test]
async fn a_job_is_shown_before_its_commit_and_committed_when_awaited() {
    let (_dir, store) = ready().await;
    let shown = Arc::new(AtomicBool::new(false));
    let flag = shown.clone();
    let stored = store.write_relaxed_shown_first(
        |txn| append(txn, "shown"),
        move |_| flag.store(true, Ordering::SeqCst),
    );
    assert!(
        shown.load(Ordering::SeqCst),
        "shown before the call returned"
    );
    assert!(!committed(&store, "shown"), "not committed yet");
    stored.await.expect("stored");
    assert!(committed(&store, "shown"), "committed once awaited");
}

/// A read after the event finds what it told, though its caller has not awaited yet.
#[tokio::test]
async fn a_read_commits_what_was_shown_first() {
    let (_dir, store) = ready().await;
    let stored = store.write_relaxed_shown_first(|txn| append(txn, "shown"), |_| {});
    assert_eq!(read_count(&store, &["shown"]).await, 1, "the read found it");
    assert!(committed(&store, "shown"));
    stored.await.expect("its caller hears it was stored");
}

/// A write queued for the writer thread commits what was left open first, and comes after it;
/// an answer dropped unawaited commits too.
#[tokio::test]
async fn the_next_write_or_a_dropped_answer_commits_it() {
    let (_dir, store) = ready().await;
    let first = store.write_relaxed_shown_first(|txn| append(txn, "first"), |_| {});
    let second = store
        .write(|txn| append(txn, "second"))
        .await
        .expect("second");
    assert!(committed(&store, "first"));
    assert!(first.await.expect("first") < second, "in the order called");
    until_idle(&store).await;
    let dropped = store.write_relaxed_shown_first(|txn| append(txn, "dropped"), |_| {});
    assert!(!committed(&store, "dropped"));
    drop(dropped);
    assert!(committed(&store, "dropped"), "committed when dropped");
}

/// A job that stores a control envelope commits at once: room states are read afresh after
/// such a commit, not after the event.
#[tokio::test]
async fn a_control_write_is_committed_before_it_is_shown() {
    let (_dir, store) = ready().await;
    let version = store.control_version();
    let committed_when_shown = Arc::new(AtomicBool::new(false));
    let (flag, path) = (committed_when_shown.clone(), store.path.clone());
    let stored = store.write_relaxed_shown_first(
        |txn| {
            writer::note_control_write();
            append(txn, "control")
        },
        move |_| flag.store(count_committed(&path, "control") == 1, Ordering::SeqCst),
    );
    assert!(committed_when_shown.load(Ordering::SeqCst));
    assert!(store.control_version() > version, "the version moved");
    stored.await.expect("stored");
}

/// A commit that fails after the job was shown is rolled back: its caller hears the failure,
/// nothing of it is stored, and the writer goes on.
#[tokio::test]
async fn a_commit_that_fails_after_the_show_leaves_nothing_behind() {
    let (_dir, store) = open();
    store
        .write(|txn| {
            txn.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )?;
            append(txn, "setup")
        })
        .await
        .expect("setup");
    until_idle(&store).await;
    let shown = Arc::new(AtomicBool::new(false));
    let flag = shown.clone();
    // The job itself succeeds; the foreign key is only checked by the commit.
    let orphan = store.write_relaxed_shown_first(
        |txn| {
            append(txn, "orphan")?;
            Ok(txn.execute("INSERT INTO child (parent) VALUES (7)", [])?)
        },
        move |_| flag.store(true, Ordering::SeqCst),
    );
    assert!(shown.load(Ordering::SeqCst), "shown before the commit");
    assert!(
        matches!(orphan.await, Err(StoreError::Closed)),
        "its caller hears the commit failed"
    );
    assert!(!committed(&store, "orphan"), "rolled back");
    store
        .write_relaxed_shown_first(|txn| append(txn, "after"), |_| {})
        .await
        .expect("the writer goes on");
    store
        .write(|txn| append(txn, "queued"))
        .await
        .expect("and on its thread");
    assert!(committed(&store, "after") && committed(&store, "queued"));
}

/// A caller that finds the writer held does not wait for it (on an async task it must not
/// block): whoever holds the writer commits what was left open before anything else.
#[tokio::test]
async fn a_caller_that_finds_the_writer_held_leaves_the_commit_to_its_holder() {
    let (_dir, store) = ready().await;
    let stored = store.write_relaxed_shown_first(|txn| append(txn, "shown"), |_| {});
    let held = writer::lock(&store.writer);
    // Waiting for the lock here, on the thread that holds it, would never end.
    drop(stored);
    assert!(!committed(&store, "shown"), "left to the holder");
    drop(held);
    let after = store
        .write(|txn| append(txn, "next"))
        .await
        .expect("the writer thread's next batch");
    assert!(committed(&store, "shown") && after > 0);
}

/// Writes a job leaves for later come after its show, in its transaction: the follow-up runs
/// without them, a read finds them, and they commit with the job.
#[tokio::test]
async fn writes_left_for_later_come_after_the_show() {
    let (_dir, store) = ready().await;
    let path = store.path.clone();
    let stored = store.write_relaxed_shown_first(
        |txn| {
            jobs::write_after_show(|conn| {
                conn.execute("INSERT INTO appended (tag) VALUES ('later')", [])?;
                Ok(())
            });
            append(txn, "first")
        },
        move |_| {
            // Shown before the later writes, which are not even in the open transaction yet.
            assert_eq!(count_committed(&path, "later"), 0);
        },
    );
    let found = read_count(&store, &["first", "later"]).await;
    assert_eq!(found, 2, "the read found both");
    stored.await.expect("stored");
    assert!(committed(&store, "first") && committed(&store, "later"));
}

/// A job not shown first does its later writes right after it: alone, or in a batch, in its
/// savepoint. If they fail, the job fails with them, and only that job.
#[tokio::test]
async fn writes_left_for_later_fail_with_their_job() {
    let (_dir, store) = ready().await;
    let job = |tag: &'static str, fail: bool| {
        move |txn: &Transaction<'_>| {
            jobs::write_after_show(move |conn| {
                conn.execute(
                    "INSERT INTO appended (tag) VALUES (?1)",
                    [format!("{tag} later")],
                )?;
                if fail {
                    conn.execute_batch("SELECT * FROM no_such_table")?;
                }
                Ok(())
            });
            append(txn, tag)
        }
    };
    store
        .write_relaxed_now_then(job("alone", false), |_| {})
        .await
        .expect("alone");
    assert!(committed(&store, "alone") && committed(&store, "alone later"));
    until_idle(&store).await;
    let failed = store
        .write_relaxed_shown_first(job("shown", true), |_| {})
        .await;
    assert!(failed.is_err(), "its caller hears it: {failed:?}");
    assert!(!committed(&store, "shown") && !committed(&store, "shown later"));
    // Queued while the writer is held, the two jobs most often share a batch (each in its own
    // savepoint); the outcome is the same when they do not.
    let held = writer::lock(&store.writer);
    let good = store.queue_write_then(job("kept", false), |_| {});
    let bad = store.queue_write_then(job("undone", true), |_| {});
    drop(held);
    assert!(good.await.is_ok() && bad.await.is_err());
    assert!(committed(&store, "kept") && committed(&store, "kept later"));
    assert!(!committed(&store, "undone") && !committed(&store, "undone later"));
}
