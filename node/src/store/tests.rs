//! Store queries on a real temporary SQLite database.

use super::*;
use crate::store::envelopes::{EnvelopeRow, InsertOutcome};
use crate::store::messages::MessageRow;
use crate::store::sync;
use std::sync::atomic::AtomicBool;

fn envelope(room: u8, author: u8, seq: u64, tag: u8) -> EnvelopeRow {
    EnvelopeRow {
        id: [tag; 32],
        room: [room; 16],
        author: [author; 32],
        seq,
        kind: 2,
        ts: seq * 10,
        bytes: vec![tag; 10],
    }
}

fn message(id: u8, sent_at: u64) -> MessageRow {
    MessageRow {
        viewer: messages::PUBLIC_VIEWER,
        sealed: None,
        id: [id; 32],
        room: [0; 16],
        author: [1; 32],
        text: format!("m{id}"),
        files: "[]".into(),
        reply_to: None,
        sent_at,
        edited_at: None,
        deleted: false,
    }
}

/// Stores a message with an envelope of its own, as the pipeline does: a message is found by id
/// through its envelope.
fn store_message(txn: &rusqlite::Transaction<'_>, row: &MessageRow) -> Result<(), StoreError> {
    let seq = u64::from_be_bytes(row.id[..8].try_into().expect("8 bytes"));
    let envelope = EnvelopeRow {
        id: row.id,
        room: row.room,
        author: row.author,
        seq,
        kind: 2,
        ts: row.sent_at,
        bytes: row.id.to_vec(),
    };
    envelopes::insert(txn, &envelope, 0)?;
    messages::insert(txn, row)
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("test.db")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn duplicates_and_equivocations_are_told_apart() {
    let (_dir, store) = open();
    let outcomes = store
        .write(|txn| {
            Ok(vec![
                envelopes::insert(txn, &envelope(0, 1, 1, 10), 0)?,
                envelopes::insert(txn, &envelope(0, 1, 1, 10), 0)?,
                envelopes::insert(txn, &envelope(0, 1, 1, 11), 0)?,
            ])
        })
        .await
        .expect("write");
    assert_eq!(
        outcomes,
        [
            InsertOutcome::Inserted,
            InsertOutcome::Duplicate,
            InsertOutcome::Equivocation
        ]
    );
    let (count, equivocations) = store
        .read(|c| {
            Ok((
                envelopes::count_in_room(c, &[0; 16])?,
                envelopes::equivocation_count(c)?,
            ))
        })
        .await
        .expect("read");
    assert_eq!((count, equivocations), (1, 1));
}

#[tokio::test]
async fn sequence_ranges_merge_in_any_insert_order() {
    use chatly_protocol::sync::{SeqRange, Want};
    use chatly_protocol::{AccountId, RoomId};
    let (_dir, store) = open();
    store
        .write(|txn| {
            // Out of order, with a duplicate: runs 1-3 and 5-6 for author 1, 1-2 for author 2.
            for seq in [3, 1, 6, 2, 5, 2] {
                envelopes::insert(txn, &envelope(0, 1, seq, seq as u8), 0)?;
            }
            for seq in [2, 1] {
                envelopes::insert(txn, &envelope(0, 2, seq, 100 + seq as u8), 0)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let heads = store
        .read(|c| sync::room_heads(c, &RoomId([0; 16])))
        .await
        .expect("read");
    let r = |lo, hi| SeqRange { lo, hi };
    assert_eq!(heads.len(), 2);
    assert_eq!(heads[0].author, AccountId([1; 32]));
    assert_eq!(heads[0].ranges, vec![r(1, 3), r(5, 6)]);
    assert_eq!(heads[1].ranges, vec![r(1, 2)]);
    // Filling the gap joins the runs.
    store
        .write(|txn| envelopes::insert(txn, &envelope(0, 1, 4, 4), 0))
        .await
        .expect("write");
    let heads = store
        .read(|c| sync::room_heads(c, &RoomId([0; 16])))
        .await
        .expect("read");
    assert_eq!(heads[0].ranges, vec![r(1, 6)]);
    let want = Want {
        room: RoomId([0; 16]),
        author: AccountId([1; 32]),
        range: r(4, 5),
    };
    let (page, more) = store
        .read(move |c| sync::page(c, &[(want, false)], 1 << 20))
        .await
        .expect("read");
    assert_eq!((page, more), (vec![vec![4u8; 10], vec![5u8; 10]], false));
    let (page, more) = store
        .read(move |c| sync::page(c, &[(want, false)], 15))
        .await
        .expect("read");
    assert_eq!((page.len(), more), (1, true));
}

#[tokio::test]
async fn history_pages_in_display_order_both_ways() {
    let (_dir, store) = open();
    store
        .write(|txn| {
            // Two messages share a timestamp: the id breaks the tie the same way on every node.
            for (id, at) in [(1, 100), (2, 200), (4, 300), (3, 300), (5, 400)] {
                store_message(txn, &message(id, at))?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let newest = store
        .read(|c| messages::page_before(c, &messages::PUBLIC_VIEWER, &[0; 16], None, 2))
        .await
        .expect("read")
        .expect("page");
    assert_eq!(
        newest.messages.iter().map(|m| m.id[0]).collect::<Vec<_>>(),
        [4, 5]
    );
    assert!(newest.has_more);
    let older = store
        .read(|c| messages::page_before(c, &messages::PUBLIC_VIEWER, &[0; 16], Some(&[4; 32]), 10))
        .await
        .expect("read")
        .expect("page");
    assert_eq!(
        older.messages.iter().map(|m| m.id[0]).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(!older.has_more);
    let after = store
        .read(|c| messages::page_after(c, &messages::PUBLIC_VIEWER, &[0; 16], &[2; 32], 10))
        .await
        .expect("read")
        .expect("page");
    assert_eq!(
        after.messages.iter().map(|m| m.id[0]).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    let unknown = store
        .read(|c| messages::page_before(c, &messages::PUBLIC_VIEWER, &[0; 16], Some(&[9; 32]), 10))
        .await
        .expect("read");
    assert!(
        unknown.is_none(),
        "an unknown cursor is an error, not an empty page"
    );
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone() {
    let (_dir, store) = open();
    let bad = store.write(|txn| {
        envelopes::insert(txn, &envelope(0, 1, 1, 1), 0)?;
        txn.execute_batch("SELECT * FROM no_such_table")?;
        Ok(())
    });
    let good = store.write(|txn| envelopes::insert(txn, &envelope(0, 2, 1, 2), 0));
    let (bad, good) = tokio::join!(bad, good);
    assert!(bad.is_err());
    assert_eq!(good.expect("good job"), InsertOutcome::Inserted);
    let count = store
        .read(|c| envelopes::count_in_room(c, &[0; 16]))
        .await
        .expect("read");
    assert_eq!(count, 1, "only the good job's row exists");
}

/// A job alone in its batch runs without a savepoint of its own: when it fails, the writer rolls
/// back the whole transaction instead of committing it, so its writes are gone all the same, the
/// caller hears its error, and what follows the commit does not run.
#[tokio::test]
async fn a_failing_job_alone_leaves_nothing_behind() {
    let (_dir, store) = open();
    let followed = Arc::new(AtomicBool::new(false));
    let flag = followed.clone();
    let bad = store
        .queue_write_relaxed_then(
            |txn| {
                envelopes::insert(txn, &envelope(0, 1, 1, 1), 0)?;
                txn.execute_batch("SELECT * FROM no_such_table")?;
                Ok(())
            },
            move |_| flag.store(true, Ordering::SeqCst),
        )
        .await;
    assert!(
        matches!(bad, Err(StoreError::Sqlite(_))),
        "its own error: {bad:?}"
    );
    assert!(!followed.load(Ordering::SeqCst), "nothing to follow");
    let count = || store.read(|c| envelopes::count_in_room(c, &[0; 16]));
    assert_eq!(count().await.expect("read"), 0, "its row was rolled back");
    let good = store.write(|txn| envelopes::insert(txn, &envelope(0, 1, 1, 1), 0));
    assert_eq!(good.await.expect("next job"), InsertOutcome::Inserted);
    assert_eq!(count().await.expect("read"), 1);
}

#[tokio::test]
async fn a_damaged_database_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.db");
    std::fs::write(
        &path,
        b"this is not a database, it is a text file of sufficient length to look like a header",
    )
    .expect("write");
    let error = Store::open(&path).err().expect("refused");
    assert!(error.to_string().contains("damaged"), "{error}");
}

#[tokio::test]
async fn migrations_run_once_and_data_survives_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    {
        let store = Store::open(&path).expect("open");
        store
            .write(|txn| store_message(txn, &message(1, 1)))
            .await
            .expect("write");
    }
    let store = Store::open(&path).expect("reopen");
    let row = store
        .read(|c| messages::get(c, &messages::PUBLIC_VIEWER, &[1; 32]))
        .await
        .expect("read");
    assert_eq!(row.map(|m| m.text), Some("m1".into()));
}

#[tokio::test]
async fn private_rows_are_seen_by_their_viewer_only() {
    let (_dir, store) = open();
    store
        .write(|txn| {
            store_message(
                txn,
                &MessageRow {
                    viewer: [5; 32],
                    ..message(1, 10)
                },
            )?;
            store_message(
                txn,
                &MessageRow {
                    viewer: [6; 32],
                    ..message(1, 10)
                },
            )?;
            store_message(txn, &message(2, 20))
        })
        .await
        .expect("write");
    for (viewer, expected) in [
        ([5; 32], vec![1]),
        ([6; 32], vec![1]),
        (messages::PUBLIC_VIEWER, vec![2]),
        ([7; 32], vec![]),
    ] {
        let page = store
            .read(move |c| messages::page_before(c, &viewer, &[0; 16], None, 10))
            .await
            .expect("read")
            .expect("page");
        assert_eq!(
            page.messages.iter().map(|m| m.id[0]).collect::<Vec<_>>(),
            expected,
            "viewer {}",
            viewer[0]
        );
    }
}

/// The statements run for every envelope stored and every opening pass open no temporary table.
/// SQLite builds one for an `IN (...)` list, in a query or in a partial index's condition (which
/// it evaluates on every insert), and for a UNION or an ORDER BY it cannot take from an index:
/// an allocation, a B-tree opened and closed, for each, several times per message received.
#[tokio::test]
async fn the_commonest_statements_open_no_temporary_table() {
    let (_dir, store) = open();
    let hot = [
        ("storing an envelope", envelopes::INSERT),
        ("the newest of a kind", private::NEWEST_OF_KIND),
        ("what arrived unopened", private::UNOPENED),
        ("what was put aside", private::PUT_ASIDE),
        ("new key deliveries", private::DELIVERIES),
        ("rooms with a control log", private::ROOMS),
    ];
    let temporary = store
        .read(move |c| {
            let mut found = Vec::new();
            for (what, sql) in hot {
                let mut explain = c.prepare(&format!("EXPLAIN {sql}"))?;
                let mut rows = explain.raw_query();
                while let Some(row) = rows.next()? {
                    let opcode: String = row.get(1)?;
                    if opcode == "OpenEphemeral" {
                        found.push(what);
                    }
                }
            }
            Ok(found)
        })
        .await
        .expect("explain");
    assert!(temporary.is_empty(), "temporary tables in: {temporary:?}");
}

/// A sealed post moves its author's sending chain without reading it first: the new state
/// replaces the old one and whom the chain was delivered to stays as stored (nobody, for a chain
/// stored for the first time this way).
#[tokio::test]
async fn moving_a_sender_chain_keeps_whom_it_was_delivered_to() {
    let (_dir, store) = open();
    let (account, room, other_room) = ([1u8; 32], [2u8; 16], [3u8; 16]);
    store
        .write(move |txn| {
            private::put_sender_chain(txn, &account, &room, &[0xaa], &[[5; 32], [6; 32]])?;
            private::move_sender_chain(txn, &account, &room, &[0xbb])?;
            private::move_sender_chain(txn, &account, &other_room, &[0xcc])
        })
        .await
        .expect("store");
    let (moved, fresh) = store
        .read(move |c| {
            Ok((
                private::sender_chain(c, &account, &room)?,
                private::sender_chain(c, &account, &other_room)?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(moved, Some((vec![0xbb], vec![[5u8; 32], [6u8; 32]])));
    assert_eq!(fresh, Some((vec![0xcc], Vec::new())));
}

/// Reading a room's control log, or listing the rooms that have one, steps through the control
/// operations only: a room's history must not make its membership slower to read.
#[tokio::test]
async fn control_log_reads_do_not_walk_the_history() {
    let (_dir, store) = open();
    store
        .write(|txn| {
            for i in 0..3000u32 {
                let mut row = envelope(7, (i % 5) as u8, u64::from(i / 5) + 1, 0);
                row.id[..4].copy_from_slice(&i.to_be_bytes());
                row.kind = if i % 1000 == 0 { 3 } else { 2 };
                envelopes::insert(txn, &row, 0)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let (controls, rooms, log_steps, list_steps, newest_control, newest_steps) = store
        .read(|c| {
            use rusqlite::StatementStatus::VmStep;
            let controls = private::control_envelopes(c, &[7; 16])?.len();
            let log_steps = c.prepare_cached(private::ENVELOPES_OF)?.get_status(VmStep);
            let rooms = private::rooms(c)?;
            let list_steps = c.prepare_cached(private::ROOMS)?.get_status(VmStep);
            let mut newest = c.prepare_cached(private::NEWEST_OF_KIND)?;
            let newest_control: i64 =
                newest.query_row(rusqlite::params![3, [7u8; 16]], |r| r.get(0))?;
            let newest_steps = newest.get_status(VmStep);
            Ok((
                controls,
                rooms,
                log_steps,
                list_steps,
                newest_control,
                newest_steps,
            ))
        })
        .await
        .expect("read");
    assert_eq!((controls, rooms), (3, vec![[7; 16]]));
    // The third control envelope was the 2,001st row stored.
    assert_eq!(newest_control, 2001);
    // A walk over the 3,000 envelopes would take more than 10,000 steps. (The index these use is
    // partial, migration 0019: a query that left out its condition would walk them.)
    assert!(log_steps < 300, "control log read took {log_steps} steps");
    assert!(list_steps < 300, "room listing took {list_steps} steps");
    assert!(
        newest_steps < 100,
        "the newest control took {newest_steps} steps"
    );
}

#[tokio::test]
async fn checkpoints_keep_the_log_from_growing_without_bound() {
    let (dir, store) = open();
    // 800 durable commits of ~40 KiB: 32 MiB through the log, four times what the writer lets it
    // hold. The WAL hook replaces the automatic checkpoint, so without the checkpoint thread and
    // the writer's own checkpoint past `WRITER_PAGES` the log would hold all of it.
    for i in 0..800u32 {
        store
            .write(move |txn| {
                txn.execute("CREATE TABLE IF NOT EXISTS filler (data BLOB)", [])?;
                txn.execute(
                    "INSERT INTO filler (data) VALUES (?1)",
                    [vec![i as u8; 40_000]],
                )?;
                Ok(())
            })
            .await
            .expect("write");
    }
    let wal = std::fs::metadata(dir.path().join("test.db-wal"))
        .expect("wal")
        .len();
    // Each page in the log carries a 24-byte frame header; one commit may go past the limit.
    let bound = (super::checkpoint::WRITER_PAGES as u64 + 16) * (4096 + 24);
    assert!(wal <= bound, "the log reached {wal} bytes (bound {bound})");
}

/// An account's own sealed posts are stored opened by the post itself; the opening pass must
/// still count them as looked at, or every later pass would read them all again (a pass ran
/// after every post, so posting in a group got slower with each message).
#[tokio::test]
async fn an_opening_pass_looks_past_what_is_already_opened() {
    let (_dir, store) = open();
    let (me, room) = ([9; 32], [7; 16]);
    let sealed = |i: u32| {
        let mut row = envelope(7, 9, u64::from(i) + 1, 0);
        row.id[..4].copy_from_slice(&i.to_be_bytes());
        row.kind = 4;
        row
    };
    store
        .write(move |txn| {
            for i in 0..2000u32 {
                let row = sealed(i);
                envelopes::insert(txn, &row, 0)?;
                let mut opened = message(0, row.ts);
                (opened.viewer, opened.id, opened.room) = (me, row.id, room);
                messages::insert(txn, &opened)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let pass = move |txn: &rusqlite::Transaction<'_>| {
        let counted = rusqlite::StatementStatus::VmStep;
        txn.prepare_cached(private::UNOPENED)?.reset_status(counted);
        let looked = private::looked_upto(txn, &me, &room)?;
        let (pending, newest) = private::unopened(txn, &me, &room, looked)?;
        private::mark_looked(txn, &me, &room, newest, &[])?;
        let steps = txn.prepare_cached(private::UNOPENED)?.get_status(counted);
        Ok((pending.len(), steps))
    };
    let (pending, _) = store.write(pass).await.expect("first pass");
    assert_eq!(pending, 0, "all 2,000 are opened already");
    store
        .write(move |txn| envelopes::insert(txn, &sealed(5000), 0).map(drop))
        .await
        .expect("one more");
    let (pending, steps) = store.write(pass).await.expect("second pass");
    assert_eq!(pending, 1);
    // Reading the 2,000 opened ones again would take more than 10,000 steps.
    assert!(steps < 300, "the second pass took {steps} steps");
}

/// Key deliveries addressed to other members are never marked as processed by an account: an
/// opening pass must still leave them behind, or every pass (one per arriving sealed message)
/// would read and decode every delivery the room ever had.
#[tokio::test]
async fn an_opening_pass_reads_each_key_delivery_once() {
    let (_dir, store) = open();
    let (me, room) = ([9; 32], [7; 16]);
    let delivery = |i: u32| {
        let mut row = envelope(7, 9, u64::from(i) + 1, 0);
        row.id[..4].copy_from_slice(&i.to_be_bytes());
        row.kind = 5;
        row
    };
    store
        .write(move |txn| {
            for i in 0..2000u32 {
                envelopes::insert(txn, &delivery(i), 0)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    // What an opening pass reads, and the mark it leaves (nothing here is for `me`).
    let pass = move |txn: &rusqlite::Transaction<'_>| {
        let counted = rusqlite::StatementStatus::VmStep;
        txn.prepare_cached(private::DELIVERIES)?
            .reset_status(counted);
        let looked = private::looked_upto(txn, &me, &room)?;
        let read = private::deliveries(txn, &me, &room, looked)?.len();
        let (_, newest) = private::unopened(txn, &me, &room, looked)?;
        private::mark_looked(txn, &me, &room, newest, &[])?;
        let steps = txn.prepare_cached(private::DELIVERIES)?.get_status(counted);
        Ok((read, steps))
    };
    let (read, _) = store.write(pass).await.expect("first pass");
    assert_eq!(read, 2000);
    store
        .write(move |txn| envelopes::insert(txn, &delivery(5000), 0).map(drop))
        .await
        .expect("one more");
    let (read, steps) = store.write(pass).await.expect("second pass");
    assert_eq!(read, 1, "only the new delivery");
    // Reading the 2,000 earlier ones again would take more than 10,000 steps.
    assert!(steps < 300, "the second pass took {steps} steps");
}

/// Waits until the public search index holds at least `count` messages (the writer indexes in
/// runs after its commits, on its own time).
async fn until_indexed(store: &Store, count: i64) {
    let started = std::time::Instant::now();
    loop {
        let indexed = store
            .read(|c| {
                Ok(c.query_row("SELECT count(*) FROM public_search", [], |r| {
                    r.get::<_, i64>(0)
                })?)
            })
            .await
            .expect("count");
        if indexed >= count {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{indexed} of {count} indexed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[path = "indexing_tests.rs"]
mod indexing;

#[path = "here_tests.rs"]
mod here;

/// An opening pass gets what arrived since the last pass and what an earlier pass put aside, each
/// once, by author and then sequence (a chain opens its messages in order), however they came.
#[tokio::test]
async fn unopened_envelopes_come_by_author_and_sequence() {
    let (_dir, store) = open();
    let (me, room) = ([9; 32], [7; 16]);
    let sealed = |author: u8, seq: u64| {
        let mut row = envelope(7, author, seq, 0);
        row.id = [author.wrapping_mul(16).wrapping_add(seq as u8); 32];
        row.bytes = vec![author, seq as u8];
        row.kind = 4;
        row
    };
    // Put aside by a first pass: author 2's first message (its key had not come).
    let first = sealed(2, 1);
    let aside = first.id;
    let seen = store
        .write(move |txn| {
            envelopes::insert(txn, &first, 0)?;
            let (pending, newest) = private::unopened(txn, &me, &room, 0)?;
            private::mark_looked(txn, &me, &room, newest, &[aside])?;
            Ok(pending.len())
        })
        .await
        .expect("first pass");
    assert_eq!(seen, 1);
    store
        .write(move |txn| {
            for (author, seq) in [(3, 2), (2, 3), (3, 1), (2, 2)] {
                envelopes::insert(txn, &sealed(author, seq), 0)?;
            }
            Ok(())
        })
        .await
        .expect("arrivals");
    let pending = store
        .write(move |txn| {
            let looked = private::looked_upto(txn, &me, &room)?;
            Ok(private::unopened(txn, &me, &room, looked)?.0)
        })
        .await
        .expect("second pass");
    assert_eq!(
        pending,
        [[2, 1], [2, 2], [2, 3], [3, 1], [3, 2]].map(Vec::from),
        "the put-aside one first, then each author in order"
    );
}
