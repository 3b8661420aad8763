//! Migrations that move rows: a database written by an older Chatly opens with its data intact.

use super::*;
use crate::store::messages::MessageRow;

/// A database at schema version `version` (the first `version` migrations), as an older Chatly
/// left it.
fn at_version(path: &Path, version: usize) -> Connection {
    let conn = Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    for sql in &MIGRATIONS[..version] {
        conn.execute_batch(sql).expect("migration");
    }
    conn.pragma_update(None, "user_version", version)
        .expect("version");
    conn
}

/// Migration 17 rebuilt the outbox keyed by (room, author, seq): what was queued before it is
/// still queued, oldest first, and still shows as queued.
#[tokio::test]
async fn a_queued_outbox_survives_its_new_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let old = at_version(&path, 16);
    for (seq, created_at) in [(1u8, 30i64), (2, 10), (3, 20)] {
        let id = [seq; 32];
        old.execute(
            "INSERT INTO envelopes (id, room, author, seq, kind, ts, bytes, received_at)
             VALUES (?1, ?2, ?3, ?4, 2, 0, x'00', 0)",
            rusqlite::params![id, [7u8; 16], [9u8; 32], seq],
        )
        .expect("envelope");
        old.execute(
            "INSERT INTO outbox (id, room, author, seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![id, [7u8; 16], [9u8; 32], seq, created_at],
        )
        .expect("queued");
    }
    drop(old);

    let store = Store::open(&path).expect("migrates");
    let queued = store.read(|c| sync::outbox(c, 10)).await.expect("outbox");
    let order: Vec<u64> = queued.iter().map(|row| row.seq).collect();
    assert_eq!(order, [2, 3, 1], "oldest first");
    assert!(queued.iter().all(|row| row.id == [row.seq as u8; 32]));
    let delivery = store
        .read(|c| sync::delivery(c, &[2; 32]))
        .await
        .expect("delivery");
    assert_eq!(delivery, Some(sync::Delivery::Queued));
}

/// Migration 20 rebuilt the chain tables without rowids: every chain is still there, and storing
/// one again replaces it rather than adding a second.
#[tokio::test]
async fn chains_survive_losing_their_rowids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let old = at_version(&path, 19);
    let (account, room, sender, chain) = ([1u8; 32], [2u8; 16], [3u8; 32], [4u8; 16]);
    old.execute(
        "INSERT INTO receiver_chains (account, room, sender, chain_id, sealed) VALUES (?1, ?2, ?3, ?4, x'aa')",
        rusqlite::params![account, room, sender, chain],
    )
    .expect("receiver chain");
    old.execute(
        "INSERT INTO sender_chains (account, room, sealed, delivered_to) VALUES (?1, ?2, x'bb', ?3)",
        rusqlite::params![account, room, [5u8; 32]],
    )
    .expect("sender chain");
    drop(old);

    let store = Store::open(&path).expect("migrates");
    let (receiving, sending) = store
        .read(move |c| {
            Ok((
                private::receiver_chain(c, &account, &room, &sender, &chain)?,
                private::sender_chain(c, &account, &room)?,
            ))
        })
        .await
        .expect("read");
    assert_eq!(receiving, Some(vec![0xaa]));
    assert_eq!(sending, Some((vec![0xbb], vec![[5u8; 32]])));

    store
        .write(move |txn| {
            private::put_receiver_chain(txn, &account, &room, &sender, &chain, &[0xcc])?;
            private::put_sender_chain(txn, &account, &room, &[0xdd], &[[5; 32], [6; 32]])
        })
        .await
        .expect("store again");
    let (receiving, sending, rows) = store
        .read(move |c| {
            let rows: i64 = c.query_row(
                "SELECT (SELECT count(*) FROM receiver_chains) + (SELECT count(*) FROM sender_chains)",
                [],
                |r| r.get(0),
            )?;
            Ok((
                private::receiver_chain(c, &account, &room, &sender, &chain)?,
                private::sender_chain(c, &account, &room)?,
                rows,
            ))
        })
        .await
        .expect("read");
    assert_eq!(receiving, Some(vec![0xcc]));
    assert_eq!(sending, Some((vec![0xdd], vec![[5u8; 32], [6u8; 32]])));
    assert_eq!(rows, 2, "replaced, not added");
}

/// Migration 22 keyed messages by their place in display order: every message is still found by
/// id (through its envelope) and in its pages, keeps its rowid (how far the search indexes read),
/// and storing it again still adds nothing.
#[tokio::test]
async fn messages_survive_their_new_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let old = at_version(&path, 21);
    let (room, author, reader) = ([7u8; 16], [9u8; 32], [5u8; 32]);
    // Rowids out of id order, as a node that received messages out of order has them.
    for (rowid, tag, sent_at) in [(10i64, 3u8, 300i64), (11, 1, 100), (12, 2, 200)] {
        old.execute(
            "INSERT INTO envelopes (id, room, author, seq, kind, ts, bytes, received_at)
             VALUES (?1, ?2, ?3, ?4, 4, ?5, x'00', 0)",
            rusqlite::params![[tag; 32], room, author, tag, sent_at],
        )
        .expect("envelope");
        old.execute(
            "INSERT INTO messages (rowid, viewer, id, room, author, text, sealed, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, '', x'ee', ?6)",
            rusqlite::params![rowid, reader, [tag; 32], room, author, sent_at],
        )
        .expect("message");
    }
    drop(old);

    let store = Store::open(&path).expect("migrates");
    let (found, page, rowids) = store
        .read(move |c| {
            Ok((
                messages::get(c, &reader, &[1; 32])?,
                messages::page_before(c, &reader, &room, Some(&[3; 32]), 10)?,
                search::private_rows_after(c, &reader, 0, 10)?,
            ))
        })
        .await
        .expect("read");
    let found = found.expect("found by id");
    assert_eq!((found.sent_at, found.sealed), (100, Some(vec![0xee])));
    let page = page.expect("the cursor is found");
    assert_eq!(
        page.messages.iter().map(|m| m.id[0]).collect::<Vec<_>>(),
        [1, 2]
    );
    let rowids: Vec<(i64, u8)> = rowids.iter().map(|r| (r.0, r.2[0])).collect();
    assert_eq!(rowids, [(10, 3), (11, 1), (12, 2)], "rowids kept");
    let nobody = store
        .read(move |c| messages::get(c, &[6; 32], &[1; 32]))
        .await
        .expect("read");
    assert!(nobody.is_none(), "another viewer holds no such row");

    let again = MessageRow {
        viewer: reader,
        id: [2; 32],
        room,
        author,
        text: String::new(),
        files: "[]".into(),
        reply_to: None,
        sealed: Some(vec![0xee]),
        sent_at: 200,
        edited_at: None,
        deleted: false,
    };
    store
        .write(move |txn| messages::insert(txn, &again))
        .await
        .expect("store again");
    let count: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert_eq!(count, 3, "ignored, not added");
}
