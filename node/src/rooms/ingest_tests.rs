//! The gossip path's store job ([`store_gossip`]) on a real store, for sealed content of a group:
//! an envelope arriving alone is opened from the bytes as they came and its rows are written
//! after the show (`pipeline::apply_deferred`); what comes in a batch is read back as before.

use std::sync::Arc;

use chatly_crypto::SenderChain;
use chatly_protocol::control::{ControlOp, KeyDelivery};
use chatly_protocol::{AccountId, Content, EnvelopeId, Header, Kind, RoomId};

use super::*;
use crate::accounts::{UnlockedKeys, Vault};
use crate::rooms::{seal, sending};
use crate::store::{Store, private};

const ROOM: RoomId = RoomId([9; 16]);

/// An author's envelopes in the test room, checked as gossip is.
struct Author {
    keys: UnlockedKeys,
    seq: u64,
    prev: EnvelopeId,
    chain: SenderChain,
}

impl Author {
    fn new() -> Author {
        Author {
            keys: UnlockedKeys::generate(now_ms()),
            seq: 0,
            prev: EnvelopeId::ZERO,
            chain: SenderChain::new(now_ms()),
        }
    }

    fn id(&self) -> AccountId {
        self.keys.account_id()
    }

    /// The next envelope, its header made by `header` from a plain one.
    fn next(&mut self, kind: Kind, body: impl FnOnce(&mut Header) -> Vec<u8>) -> Checked {
        self.seq += 1;
        let mut header = Header::plain(kind, ROOM, self.id(), self.seq, self.prev, now_ms());
        let body = body(&mut header);
        let verified = seal::seal(&self.keys.identity, header, body).expect("seal");
        self.prev = verified.id;
        pipeline::check(verified.bytes, now_ms(), None).expect("check")
    }

    fn control(&mut self, op: ControlOp) -> Checked {
        self.next(Kind::Control, |_| op.encode().expect("encode"))
    }

    /// This author's chain, delivered to `to`.
    fn delivery(&mut self, to: &UnlockedKeys) -> Checked {
        let parcel = chatly_crypto::deliver(
            self.chain.state(),
            &ROOM.0,
            &self.id().0,
            &to.account_id().0,
            &to.prekey.public(),
            &to.dh.public(),
        )
        .expect("deliver");
        let body = KeyDelivery {
            recipient: to.account_id(),
            recipient_prekey: to.prekey.public(),
            ephemeral: parcel.ephemeral,
            sealed: parcel.sealed,
        };
        self.next(Kind::KeyDelivery, |_| body.encode().expect("encode"))
    }

    /// `text`, sealed with this author's chain.
    fn post(&mut self, text: &str) -> Checked {
        let plain = Content::Message {
            text: text.into(),
            files: Vec::new(),
            reply_to: None,
        }
        .encode()
        .expect("encode");
        let (index, key) = self.chain.next_key();
        let chain_id = self.chain.state().chain_id;
        self.next(Kind::Sealed, |header| {
            sending::seal_with_chain(header, chain_id, index, &key, &plain).expect("seal")
        })
    }
}

/// A node's store with `reader` unlocked.
struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    states: Arc<RoomStates>,
    vault: Arc<Vault>,
    reader: AccountId,
}

/// What one gossip job did: each envelope's outcome, the texts of the messages it showed, and
/// whether its envelopes were all held when the job returned.
struct Job {
    applied: Vec<Applied>,
    shown: Vec<String>,
    held_in_job: bool,
}

impl Node {
    fn new(reader: UnlockedKeys) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("node.db")).expect("open");
        Node {
            states: Arc::new(RoomStates::new(store.clone())),
            reader: reader.account_id(),
            vault: Arc::new(Vault::holding(vec![reader])),
            store,
            _dir: dir,
        }
    }

    /// `items` stored as the gossip path stores them, in a job shown before its commit.
    async fn gossip(&self, items: Vec<Checked>) -> Job {
        let (states, vault) = (self.states.clone(), self.vault.clone());
        self.store
            .write_relaxed_shown_first(
                move |txn| {
                    let (applied, _, (_, events)) =
                        store_gossip(txn, &states, &items, now_ms(), &vault)?;
                    let mut held_in_job = true;
                    for item in &items {
                        held_in_job &= envelopes::contains(txn, &item.verified.id.0)?;
                    }
                    let shown = events
                        .into_iter()
                        .filter_map(|event| match event {
                            NodeEvent::MessageCreated { row, .. } => Some(row.text),
                            _ => None,
                        })
                        .collect();
                    Ok(Job {
                        applied,
                        shown,
                        held_in_job,
                    })
                },
                |_| {},
            )
            .await
            .expect("stored")
    }

    /// The reader's messages in the room, opened, and whether an opening pass would find
    /// anything still unopened (read back from the store).
    async fn read(&self) -> (Vec<String>, usize) {
        let keys = self.vault.get(&self.reader).expect("unlocked");
        self.store
            .read(move |c| {
                let me = keys.account_id();
                let page = crate::store::messages::page_before(c, &me.0, &ROOM.0, None, 100)?;
                let texts = page
                    .map(|page| page.messages)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|row| crate::rooms::opened::open_row(&keys, row))
                    .map(|(text, _)| text)
                    .collect();
                let looked = private::looked_upto(c, &me.0, &ROOM.0)?;
                let (pending, _) = private::unopened(c, &me.0, &ROOM.0, looked)?;
                Ok((texts, pending.len()))
            })
            .await
            .expect("read")
    }
}

#[tokio::test]
async fn sealed_content_arriving_alone_is_opened_as_it_came_and_stored_after_the_show() {
    let (mut alice, mut carol) = (Author::new(), Author::new());
    let node = Node::new(UnlockedKeys::generate(now_ms()));
    let bob = node.vault.get(&node.reader).expect("unlocked");
    let members = vec![node.reader, carol.id()];
    let create = alice.control(ControlOp::Create { members });
    let delivered = alice.delivery(&bob);
    let job = node.gossip(vec![create, delivered]).await;
    assert!(job.held_in_job, "a batch is stored in its job");

    let job = node.gossip(vec![alice.post("hello")]).await;
    assert!(
        matches!(job.applied[..], [Applied::Stored(_)]),
        "{:?}",
        job.applied
    );
    assert_eq!(
        job.shown,
        ["hello"],
        "opened in the job, from the bytes as they came"
    );
    assert!(!job.held_in_job, "its rows come after the show");
    assert_eq!(node.read().await, (vec!["hello".to_string()], 0));

    // Carol's chain has not been delivered yet: her post is put aside, as it would be if read
    // back, and opens when the delivery comes.
    let key = carol.delivery(&bob);
    let early = carol.post("before my key");
    let job = node.gossip(vec![early.clone()]).await;
    assert!(job.shown.is_empty() && !job.held_in_job);
    assert_eq!(node.read().await, (vec!["hello".to_string()], 1));
    let job = node.gossip(vec![key]).await;
    assert_eq!(job.shown, ["before my key"]);
    assert_eq!(node.read().await.1, 0, "looked at everything");

    // The same envelope again is a duplicate; another at its place an equivocation.
    let job = node.gossip(vec![early]).await;
    assert!(
        matches!(job.applied[..], [Applied::Duplicate]),
        "{:?}",
        job.applied
    );
    carol.seq -= 1;
    let job = node.gossip(vec![carol.post("a rival")]).await;
    assert!(
        matches!(job.applied[..], [Applied::Equivocation]),
        "{:?}",
        job.applied
    );
    assert!(job.shown.is_empty());

    // Someone who is not a member may not post; nothing of it is kept.
    let mut mallory = Author::new();
    let job = node.gossip(vec![mallory.post("let me in")]).await;
    assert!(
        matches!(job.applied[..], [Applied::NotMember]),
        "{:?}",
        job.applied
    );
    assert!(!job.held_in_job);

    let (texts, unopened) = node.read().await;
    assert_eq!(texts, ["hello", "before my key"]);
    assert_eq!(unopened, 0);
}
