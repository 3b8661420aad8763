//! Search indexing in the store: public messages indexed in runs after their commits, private
//! indexes that catch up on new rows only, and a backlog indexed at start.

use super::*;

/// Public messages are indexed for search in runs after the commits that store them: a few wait
/// for the next search (which indexes them first), enough of them are indexed by the writer on
/// its own, once, and private rows never are.
#[tokio::test]
async fn public_messages_are_indexed_in_runs_after_their_commits() {
    let (_dir, store) = open();
    let indexed = |store: Store| async move {
        store
            .read(|c| {
                Ok(c.query_row("SELECT count(*) FROM public_search", [], |r| {
                    r.get::<_, i64>(0)
                })?)
            })
            .await
    };
    let insert = |from: u32, to: u32, viewer: [u8; 32]| {
        move |txn: &rusqlite::Transaction<'_>| {
            for i in from..to {
                let mut row = message(0, u64::from(i));
                row.id[..4].copy_from_slice(&i.to_be_bytes());
                row.viewer = viewer;
                messages::insert(txn, &row)?;
            }
            Ok(())
        }
    };
    // A new writer looks once for what an earlier run of the node left pending (nothing here).
    store.write(|_| Ok(())).await.unwrap();
    store
        .write(insert(0, 10, messages::PUBLIC_VIEWER))
        .await
        .unwrap();
    store.write(insert(10, 20, [5; 32])).await.unwrap();
    store.write(|_| Ok(())).await.unwrap();
    assert_eq!(
        indexed(store.clone()).await.unwrap(),
        0,
        "ten wait for a search"
    );
    let run = store
        .write(|txn| search::index_pending(txn, usize::MAX))
        .await
        .unwrap();
    assert_eq!((run, indexed(store.clone()).await.unwrap()), (10, 10));

    store
        .write(insert(100, 500, messages::PUBLIC_VIEWER))
        .await
        .unwrap();
    // The writer indexes after answering, once 128 to 384 wait (the count restarts at a random
    // number after each run): a later job runs after that.
    store.write(|_| Ok(())).await.unwrap();
    assert_eq!(indexed(store.clone()).await.unwrap(), 410);
    let counted = rusqlite::StatementStatus::VmStep;
    let (run, steps) = store
        .write(move |txn| {
            txn.prepare_cached(search::PENDING)?.reset_status(counted);
            let run = search::index_pending(txn, usize::MAX)?;
            Ok((
                run,
                txn.prepare_cached(search::PENDING)?.get_status(counted),
            ))
        })
        .await
        .unwrap();
    assert_eq!(run, 0, "each message is indexed once");
    // Every search asks what is pending: walking the 410 indexed ones would take over 1,000 steps.
    assert!(
        steps < 50,
        "looking for pending messages took {steps} steps"
    );

    // A backlog larger than one run is indexed run after run while the writer has nothing else
    // to do (reads do not queue writer jobs), not left for the next search.
    store
        .write(insert(1000, 4000, messages::PUBLIC_VIEWER))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while indexed(store.clone()).await.unwrap() < 3410 {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog was left unindexed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every search brings the account's in-memory index up to date with the sealed rows stored
/// since it last looked: that must cost the new rows, not every private message it ever had.
#[tokio::test]
async fn a_private_index_catches_up_on_new_rows_only() {
    let (_dir, store) = open();
    let (me, other) = ([9; 32], [8; 32]);
    let sealed_row = |viewer: [u8; 32], i: u32| {
        let mut row = message(0, u64::from(i));
        row.id[..4].copy_from_slice(&i.to_be_bytes());
        (row.viewer, row.sealed) = (viewer, Some(vec![1; 40]));
        row
    };
    store
        .write(move |txn| {
            for i in 0..2000u32 {
                messages::insert(txn, &sealed_row(me, i))?;
                let mut public = message(0, u64::from(i));
                public.id[..4].copy_from_slice(&(i + 10_000).to_be_bytes());
                messages::insert(txn, &public)?;
            }
            messages::insert(txn, &sealed_row(other, 9999))?;
            Ok(())
        })
        .await
        .expect("write");
    let all = store
        .read(move |c| search::private_rows_after(c, &me, 0, 5000))
        .await
        .expect("first look");
    assert_eq!(all.len(), 2000, "only this account's sealed rows");
    let upto = all.last().map(|row| row.0).expect("rows");
    store
        .write(move |txn| messages::insert(txn, &sealed_row(me, 5000)).map(drop))
        .await
        .expect("one more");
    let (new, steps) = store
        .read(move |c| {
            let counted = rusqlite::StatementStatus::VmStep;
            c.prepare_cached(search::PRIVATE_AFTER)?
                .reset_status(counted);
            let new = search::private_rows_after(c, &me, upto, 5000)?;
            Ok((
                new.len(),
                c.prepare_cached(search::PRIVATE_AFTER)?.get_status(counted),
            ))
        })
        .await
        .expect("second look");
    assert_eq!(new, 1);
    // Walking the 2,000 earlier rows would take more than 10,000 steps.
    assert!(steps < 50, "catching up took {steps} steps");
}

/// Public messages an earlier run of the node stored and did not index (it stopped first) are
/// indexed by the next one without waiting for a search, however many there are.
#[tokio::test]
async fn a_backlog_left_by_an_earlier_run_is_indexed_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    drop(Store::open(&path).expect("open"));
    {
        let mut raw = rusqlite::Connection::open(&path).expect("raw");
        raw.busy_timeout(std::time::Duration::from_secs(10))
            .expect("timeout");
        let txn = raw.transaction().expect("begin");
        for i in 0..3000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            txn.execute(
                "INSERT INTO messages (viewer, id, room, author, text, sent_at)
                 VALUES (zeroblob(32), ?1, zeroblob(16), zeroblob(32), ?2, ?3)",
                rusqlite::params![id, format!("left over {i}"), i64::from(i)],
            )
            .expect("insert");
        }
        txn.commit().expect("commit");
    }
    let store = Store::open(&path).expect("reopen");
    store.write(|_| Ok(())).await.expect("first batch");
    until_indexed(&store, 3000).await;
}
