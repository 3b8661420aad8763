//! Sending into group and direct rooms: sealed posts, sender chains and key delivery
//! (docs/protocol.md, "Group and direct rooms").
//!
//! One mechanism keeps chains right: [`Rooms::ensure_chain`] runs before every sealed post. It
//! starts a new chain when there is none, when the chain is old or full, or when anyone it was
//! delivered to has left the room (so a removed member never gets a key used after its removal),
//! and delivers the current chain to members who do not have it yet (so a new member reads from
//! its join on). Posts go through the write pipeline of [`super::author`], which also holds the
//! chain as the last queued post left it.

use chatly_crypto::{SenderChain, wrap};
use chatly_protocol::control::KeyDelivery;
use chatly_protocol::{AccountId, Content, HEADER_LEN, Header, Kind, RoomId};

use super::groups::{CHAIN_LABEL, private_row, room_info_of};
use super::membership::RoomState;
use super::opened::Opened;
use super::seal::{self, Rejection};
use super::{RoomError, Rooms};
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::messages::MessageRow;
use crate::store::{StoreError, now_ms, private, users};

impl Rooms {
    /// Seals content into a room with the author's chain. The author's own copy is stored opened
    /// (sealed under its master key) and returned in the clear.
    pub async fn post_private(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        content: Content,
    ) -> Result<MessageRow, RoomError> {
        let state = self.room_state(room).await?;
        self.post_private_in(keys, room, &state, content).await
    }

    /// [`Rooms::post_private`] with the room's state as the caller just read it.
    pub async fn post_private_in(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        state: &RoomState,
        content: Content,
    ) -> Result<MessageRow, RoomError> {
        let author = keys.account_id();
        if !state.is_member(&author) {
            return Err(RoomError::Forbidden("not a member of this room".into()));
        }
        let plain = content
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
        let mut guard = self.lock_author(room, author).await;
        let mut chain = self.ensure_chain(&mut guard, keys, room, state).await?;
        let (index, message_key) = chain.next_key();
        let chain_id = chain.state().chain_id;
        let checked = self
            .prepare_local(&guard, author, room, |seq, prev, now| {
                let mut header = Header::plain(Kind::Sealed, room, author, seq, prev, now);
                let body = seal_with_chain(&mut header, chain_id, index, &message_key, &plain)?;
                seal::seal(&keys.identity, header, body)
            })
            .await?;
        let row = private_row(
            keys,
            &checked.verified.envelope,
            checked.verified.id,
            &content,
        )?;
        // The author's answer and events show the content at hand; the stored row is sealed.
        let shown = row
            .as_ref()
            .and_then(|row| super::opened::in_the_clear(row, &content));
        let (store_row, info) = (row, room_info_of(&content));
        let master = *keys.master.expose();
        let op = super::ops::op_row(
            author.0,
            &checked.verified.envelope,
            checked.verified.id,
            &content,
            super::ops::seal_private(&master),
        );
        let op_target = op.as_ref().map(|o| o.target);
        // The chain moves on in the same commit as the envelope it sealed (after a crash it can
        // never hand out that key again: receivers would refuse the second message), and the
        // author's own opened copy is stored with them.
        let moved = wrap::seal(&master, CHAIN_LABEL, &chain.to_bytes());
        let id = checked.verified.id;
        let announce = match &shown {
            // Only its author reads this row, and nothing can refer to a post before it is
            // stored: the writer stores this before any reaction or edit that names it.
            Some(row) => NodeEvent::MessageCreated {
                row: row.clone(),
                may_have_ops: false,
                posted_here: true,
            },
            None => match op_target {
                Some(target) => NodeEvent::MessageChanged {
                    viewer: author.0,
                    room,
                    target,
                },
                None => NodeEvent::RoomUpdated(room),
            },
        };
        let also: super::Also = Box::new(move |txn| {
            private::move_sender_chain(txn, &author.0, &room.0, &moved)?;
            let opened = Opened {
                account: author,
                room,
                id,
                row: store_row.as_ref(),
                info_at: info,
                op: op.as_ref(),
                plain: &plain,
            };
            opened.record(txn, &master)?;
            Ok(Some(announce))
        });
        if let Some((cached, _)) = guard.chain.as_mut() {
            *cached = chain;
        }
        let queued = self.queue_local(&mut guard, checked, Topic::Rooms, Some(also));
        drop(guard);
        // Its events are on the bus once it committed (`queue_local`).
        let checked = self.finish_local(queued).await?;
        match shown {
            Some(row) => Ok(row),
            None => Ok(MessageRow {
                viewer: author.0,
                id: checked.verified.id.0,
                room: room.0,
                author: author.0,
                text: String::new(),
                files: "[]".into(),
                reply_to: None,
                sealed: None,
                sent_at: now_ms(),
                edited_at: None,
                deleted: false,
            }),
        }
    }

    /// Returns a chain fit to seal with, rotating and delivering as needed (see the module docs).
    pub(crate) async fn ensure_chain(
        &self,
        guard: &mut super::AuthorGuard,
        keys: &UnlockedKeys,
        room: RoomId,
        state: &RoomState,
    ) -> Result<SenderChain, RoomError> {
        let author = keys.account_id();
        // The chain as the last queued post left it; the stored one may not have caught up. (A
        // copy: should this fail half-way, the cache must still say where the chain stands.)
        let stored = match guard.chain.clone() {
            Some(cached) => Some(cached),
            None => self
                .store
                .read(move |c| private::sender_chain(c, &author.0, &room.0))
                .await?
                .and_then(|(sealed, to)| open_sender_chain(keys, &sealed).map(|c| (c, to)))
                .map(|(mut chain, to)| {
                    // A post published before its commit may have used the stored position and
                    // never been stored (a crash, a failed commit): never hand that key out again
                    // (module docs of `author`).
                    let _skipped = chain.next_key();
                    (chain, to)
                }),
        };
        let members: Vec<AccountId> = state
            .members
            .iter()
            .filter(|m| **m != author)
            .copied()
            .collect();
        let now = now_ms();
        let (chain, mut delivered, fresh) = match stored {
            Some((chain, to))
                if !chain.needs_rotation(now)
                    && to.iter().all(|m| state.is_member(&AccountId(*m))) =>
            {
                (chain, to, false)
            }
            _ => (SenderChain::new(now), Vec::new(), true),
        };
        let missing: Vec<AccountId> = members
            .iter()
            .filter(|m| !delivered.contains(&m.0))
            .copied()
            .collect();
        for member in &missing {
            let Some(user) = self
                .store
                .read({
                    let id = member.0;
                    move |c| users::get(c, &id)
                })
                .await?
            else {
                tracing::warn!(member = %member, "no account record for a member yet: its chain is delivered later");
                continue;
            };
            let delivery = chatly_crypto::deliver(
                chain.state(),
                &room.0,
                &author.0,
                &member.0,
                &user.prekey_public,
                &user.dh_public,
            )
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
            let body = KeyDelivery {
                recipient: *member,
                recipient_prekey: user.prekey_public,
                ephemeral: delivery.ephemeral,
                sealed: delivery.sealed,
            }
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
            self.publish_locked(guard, author, room, Topic::Rooms, |seq, prev, now| {
                seal::seal(
                    &keys.identity,
                    Header::plain(Kind::KeyDelivery, room, author, seq, prev, now),
                    body,
                )
            })
            .await?;
            delivered.push(member.0);
        }
        // Nothing changed: no commit (a post's own commit saves the chain as it moves on).
        if fresh || !missing.is_empty() {
            self.save_sender_chain(keys, room, &chain, delivered.clone())
                .await?;
        }
        guard.chain = Some((chain.clone(), delivered));
        Ok(chain)
    }

    async fn save_sender_chain(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        chain: &SenderChain,
        delivered: Vec<[u8; 32]>,
    ) -> Result<(), StoreError> {
        let author = keys.account_id();
        let sealed = wrap::seal(keys.master.expose(), CHAIN_LABEL, &chain.to_bytes());
        self.store
            .write(move |txn| {
                private::put_sender_chain(txn, &author.0, &room.0, &sealed, &delivered)
            })
            .await
    }
}

/// Seals `plain` with message key `index` of chain `chain_id`: fills in `header`'s key fields
/// and a fresh nonce, and returns the body, whose associated data is the header.
pub(super) fn seal_with_chain(
    header: &mut Header,
    chain_id: [u8; 16],
    index: u32,
    message_key: &[u8; 32],
    plain: &[u8],
) -> Result<Vec<u8>, Rejection> {
    header.key_suite = chatly_protocol::KEY_SUITE_SENDER_CHAIN;
    header.key_id = chain_id;
    header.key_index = index;
    header.nonce = chatly_crypto::random_bytes();
    let ad = header_bytes(header, plain.len() + chatly_protocol::AEAD_TAG_LEN)?;
    Ok(chatly_crypto::seal_message(
        message_key,
        &header.nonce,
        &ad,
        plain,
    ))
}

/// The 139 header bytes of an envelope whose body will be `body_len` bytes: the AEAD's associated data.
fn header_bytes(header: &Header, body_len: usize) -> Result<Vec<u8>, Rejection> {
    let mut bytes = chatly_protocol::signing_bytes(header, &vec![0; body_len])
        .map_err(|e| Rejection::Invalid(e.to_string()))?;
    bytes.truncate(HEADER_LEN);
    Ok(bytes)
}

fn open_sender_chain(keys: &UnlockedKeys, sealed: &[u8]) -> Option<SenderChain> {
    wrap::open(keys.master.expose(), CHAIN_LABEL, sealed)
        .ok()
        .and_then(|b| SenderChain::from_bytes(&b).ok())
}
