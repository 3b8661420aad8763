//! A lone public message decided by reading, its rows written after the show
//! ([`apply_deferred`]), on a real store: the same outcomes as [`apply`], and its rows written
//! only once the job has run. Sealed content on the same path: `ingest_tests.rs`.

use chatly_protocol::sync::SeqRange;
use chatly_protocol::{AccountId, Content, EnvelopeId, Header, Kind, RoomId};

use super::*;
use crate::accounts::UnlockedKeys;
use crate::store::{Store, now_ms};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("test.db")).expect("open");
    (dir, store)
}

/// `keys`' public post `text` at `seq`, after `prev`, checked as gossip is.
fn post(keys: &UnlockedKeys, seq: u64, prev: EnvelopeId, text: &str) -> Checked {
    let body = Content::Message {
        text: text.into(),
        files: Vec::new(),
        reply_to: None,
    }
    .encode()
    .expect("encode");
    let header = Header::plain(
        Kind::Content,
        RoomId::PUBLIC,
        keys.account_id(),
        seq,
        prev,
        now_ms(),
    );
    let verified = seal::seal(&keys.identity, header, body).expect("seal");
    check(verified.bytes, now_ms(), None).expect("check")
}

/// Applies `checked` alone in a job shown before its commit, as the gossip path does. Returns
/// the outcome and whether its envelope was already held when the job returned.
async fn apply_alone(store: &Store, checked: Checked) -> (Applied, bool) {
    let states = RoomStates::new(store.clone());
    store
        .write_relaxed_shown_first(
            move |txn| {
                assert!(deferrable(&checked), "a public message");
                let applied = apply_deferred(txn, &states, &checked, now_ms())?;
                let held = envelopes::contains(txn, &checked.verified.id.0)?;
                Ok((applied, held))
            },
            |_| {},
        )
        .await
        .expect("stored")
}

/// What the store holds of the public room: envelopes, public messages, equivocations, and
/// the author's sequence ranges.
async fn held(store: &Store, author: AccountId) -> (u64, u64, u64, Vec<SeqRange>) {
    store
        .read(move |c| {
            let ranges = crate::store::sync::room_heads(c, &RoomId::PUBLIC)?
                .into_iter()
                .filter(|heads| heads.author == author)
                .flat_map(|heads| heads.ranges)
                .collect();
            Ok((
                envelopes::count_in_room(c, &RoomId::PUBLIC.0)?,
                c.query_row(
                    "SELECT count(*) FROM messages WHERE viewer = zeroblob(32)",
                    [],
                    |r| r.get::<_, i64>(0),
                )? as u64,
                envelopes::equivocation_count(c)?,
                ranges,
            ))
        })
        .await
        .expect("read")
}

#[tokio::test]
async fn a_new_public_message_is_announced_and_its_rows_written_after_the_job() {
    let (_dir, store) = open();
    let keys = UnlockedKeys::generate(now_ms());
    let first = post(&keys, 1, EnvelopeId::ZERO, "hello");
    let (applied, held_in_job) = apply_alone(&store, first.clone()).await;
    let Applied::Stored(Some(event)) = applied else {
        panic!("stored with an event: {applied:?}");
    };
    assert!(
        matches!(*event, NodeEvent::MessageCreated { ref row, may_have_ops: false, posted_here: false } if row.text == "hello"),
        "{event:?}"
    );
    assert!(!held_in_job, "the envelope is written after the job");
    let range = |lo, hi| SeqRange { lo, hi };
    assert_eq!(
        held(&store, keys.account_id()).await,
        (1, 1, 0, vec![range(1, 1)])
    );
    // The next one extends the author's range, as `apply` would.
    let (applied, _) = apply_alone(&store, post(&keys, 2, first.verified.id, "again")).await;
    assert!(matches!(applied, Applied::Stored(Some(_))), "{applied:?}");
    assert_eq!(
        held(&store, keys.account_id()).await,
        (2, 2, 0, vec![range(1, 2)])
    );
}

#[tokio::test]
async fn a_held_message_is_a_duplicate_and_another_at_its_place_an_equivocation() {
    let (_dir, store) = open();
    let keys = UnlockedKeys::generate(now_ms());
    let first = post(&keys, 1, EnvelopeId::ZERO, "first");
    apply_alone(&store, first.clone()).await;
    let (again, _) = apply_alone(&store, first).await;
    assert!(matches!(again, Applied::Duplicate), "{again:?}");
    let (rival, held_in_job) =
        apply_alone(&store, post(&keys, 1, EnvelopeId::ZERO, "a rival")).await;
    assert!(matches!(rival, Applied::Equivocation), "{rival:?}");
    assert!(!held_in_job, "the rival is not stored");
    let texts = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT text FROM messages")?;
            let texts = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(texts.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("read");
    assert_eq!(texts, ["first"]);
    let (envelopes, messages, equivocations, _) = held(&store, keys.account_id()).await;
    assert_eq!((envelopes, messages, equivocations), (1, 1, 1));
}
