//! Group and direct rooms: the control log, sender chains, key delivery, sealed posts, and
//! opening what arrives (docs/protocol.md, "Group and direct rooms").
//!
//! One mechanism keeps chains right: [`Rooms::ensure_chain`] runs before every sealed post. It
//! starts a new chain when there is none, when the chain is old or full, or when anyone it was
//! delivered to has left the room (so a removed member never gets a key used after its removal),
//! and delivers the current chain to members who do not have it yet (so a new member reads from
//! its join on). Decrypted content is stored sealed under the reading account's master key.
//! Receiving (deliveries, opening sealed content) lives in [`super::opening`].

use chatly_crypto::{SenderChain, wrap};
use chatly_protocol::control::{ControlOp, KeyDelivery};
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, HEADER_LEN, Header, Kind, RoomId};

use super::membership::{self, ControlEntry, RoomState};
use super::opening::Opened;
use super::seal::{self, Rejection};
use super::{RoomError, Rooms};
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::messages::MessageRow;
use crate::store::{StoreError, now_ms, private, users};

/// AEAD label of private content sealed under an account's master key at rest.
pub const PRIVATE_CONTENT_LABEL: &str = "chatly/v1/private-content";
/// AEAD label of chain state sealed under an account's master key at rest.
pub(crate) const CHAIN_LABEL: &str = "chatly/v1/chain-state";

/// Decodes the control log of a room into entries for the fold.
pub fn control_entries(envelopes: Vec<Vec<u8>>) -> Vec<ControlEntry> {
    envelopes
        .into_iter()
        .filter_map(|bytes| {
            let envelope = Envelope::decode(&bytes).ok()?;
            let op = ControlOp::decode(&envelope.body).ok()?;
            Some(ControlEntry {
                id: EnvelopeId(chatly_crypto::envelope_id(&bytes)),
                author: envelope.header.author,
                seq: envelope.header.seq,
                timestamp_ms: envelope.header.timestamp_ms,
                op,
            })
        })
        .collect()
}

/// The state of a room from the store (inside a transaction or on a reader).
pub fn load_state(conn: &rusqlite::Connection, room: RoomId) -> Result<RoomState, StoreError> {
    Ok(membership::resolve(
        room,
        &control_entries(private::control_envelopes(conn, &room.0)?),
    ))
}

impl Rooms {
    /// The resolved state of a room.
    pub async fn room_state(&self, room: RoomId) -> Result<RoomState, StoreError> {
        self.store.read(move |c| load_state(c, room)).await
    }

    /// Every group or direct room `account` is a member of, with its state.
    pub async fn rooms_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<(RoomId, RoomState)>, StoreError> {
        self.store
            .read(move |c| {
                let mut out = Vec::new();
                for room in private::rooms(c)? {
                    let state = load_state(c, RoomId(room))?;
                    if state.is_member(&account) {
                        out.push((RoomId(room), state));
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Publishes a control operation as `keys`' account, after checking it would be valid.
    pub async fn control(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        op: ControlOp,
    ) -> Result<RoomState, RoomError> {
        let author = keys.account_id();
        let state = self.room_state(room).await?;
        if !matches!(
            op,
            ControlOp::Create { .. } | ControlOp::CreateDirect { .. }
        ) {
            state
                .check(&author, &op)
                .map_err(|why| RoomError::Forbidden(why.to_string()))?;
        }
        let body = op
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
        let mut guard = self.lock_author(room, author).await;
        self.publish_locked(&mut guard, author, room, Topic::Rooms, |seq, prev, now| {
            seal::seal(
                &keys.identity,
                Header::plain(Kind::Control, room, author, seq, prev, now),
                body,
            )
        })
        .await?;
        drop(guard);
        let state = self.room_state(room).await?;
        self.bus.publish(NodeEvent::RoomUpdated(room));
        self.reach_home_nodes(&state.members).await;
        Ok(state)
    }

    /// First contact: connects to the home nodes of a room's members (the addresses in their
    /// account records, and a Kademlia lookup), so keys and messages need not wait for the mesh
    /// to bring two distant nodes together. Already connected nodes are skipped by the network.
    pub async fn reach_home_nodes(&self, members: &[AccountId]) {
        for member in members {
            let Ok(Some(user)) = self.user(*member).await else {
                continue;
            };
            let Some(peer) = seal::node_peer_id(&user.node_public) else {
                continue;
            };
            let addrs = user
                .node_addrs
                .iter()
                .filter_map(|a| a.parse::<libp2p::Multiaddr>().ok())
                .collect();
            self.net.dial_peer(peer, addrs);
        }
    }

    /// Seals content into a room with the author's chain; the author's own copy is stored opened.
    pub async fn post_private(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        content: Content,
    ) -> Result<MessageRow, RoomError> {
        let author = keys.account_id();
        let state = self.room_state(room).await?;
        if !state.is_member(&author) {
            return Err(RoomError::Forbidden("not a member of this room".into()));
        }
        let plain = content
            .encode()
            .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
        let mut guard = self.lock_author(room, author).await;
        let mut chain = self.ensure_chain(&mut guard, keys, room, &state).await?;
        let (index, message_key) = chain.next_key();
        let chain_id = chain.state().chain_id;
        let checked = self
            .prepare_local(&guard, author, room, |seq, prev, now| {
                let mut header = Header::plain(Kind::Sealed, room, author, seq, prev, now);
                header.key_suite = chatly_protocol::KEY_SUITE_SENDER_CHAIN;
                header.key_id = chain_id;
                header.key_index = index;
                header.nonce = chatly_crypto::random_bytes();
                let ad = header_bytes(&header, plain.len() + chatly_protocol::AEAD_TAG_LEN)?;
                let body = chatly_crypto::seal_message(&message_key, &header.nonce, &ad, &plain);
                seal::seal(&keys.identity, header, body)
            })
            .await?;
        let row = private_row(
            keys,
            &checked.verified.envelope,
            checked.verified.id,
            &content,
        )?;
        let (store_row, info) = (row.clone(), room_info_of(&content));
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
        let also: super::Also = Box::new(move |txn| {
            let delivered = private::sender_chain(txn, &author.0, &room.0)?
                .map(|(_, d)| d)
                .unwrap_or_default();
            private::put_sender_chain(txn, &author.0, &room.0, &moved, &delivered)?;
            let opened = Opened {
                account: author,
                room,
                id,
                row: store_row.as_ref(),
                info_at: info,
                op: op.as_ref(),
                plain: &plain,
            };
            opened.record(txn, &master)
        });
        if let Some((cached, _)) = guard.chain.as_mut() {
            *cached = chain;
        }
        let queued = self.queue_local(&mut guard, checked, Topic::Rooms, Some(also));
        drop(guard);
        let checked = self.finish_local(queued).await?;
        match row {
            Some(row) => {
                self.bus.publish(NodeEvent::MessageCreated(row.clone()));
                Ok(row)
            }
            None => {
                self.bus.publish(match op_target {
                    Some(target) => NodeEvent::MessageChanged {
                        viewer: author.0,
                        room,
                        target,
                    },
                    None => NodeEvent::RoomUpdated(room),
                });
                Ok(MessageRow {
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
                })
            }
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
        // The chain as the last queued post left it; the stored one may not have caught up.
        let stored = match guard.chain.take() {
            Some(cached) => Some(cached),
            None => self
                .store
                .read(move |c| private::sender_chain(c, &author.0, &room.0))
                .await?
                .and_then(|(sealed, to)| open_sender_chain(keys, &sealed).map(|c| (c, to))),
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
            self.save_sender_chain(keys, room, &chain, Some(delivered.clone()))
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
        delivered: Option<Vec<[u8; 32]>>,
    ) -> Result<(), StoreError> {
        let author = keys.account_id();
        let sealed = wrap::seal(keys.master.expose(), CHAIN_LABEL, &chain.to_bytes());
        self.store
            .write(move |txn| {
                let delivered = match delivered {
                    Some(d) => d,
                    None => private::sender_chain(txn, &author.0, &room.0)?
                        .map(|(_, d)| d)
                        .unwrap_or_default(),
                };
                private::put_sender_chain(txn, &author.0, &room.0, &sealed, &delivered)
            })
            .await
    }

    /// Publishes a new account record when the one in the directory carries an older prekey or
    /// other home-node addresses than this node has now (ports change across restarts).
    pub async fn refresh_record(&self, keys: &UnlockedKeys) -> Result<(), RoomError> {
        let Some(user) = self.user(keys.account_id()).await? else {
            return Ok(());
        };
        if user.prekey_public == keys.prekey.public() && user.node_addrs == self.home_addrs().await
        {
            return Ok(());
        }
        let avatar = match user.avatar.as_deref().and_then(|a| hex::decode(a).ok()) {
            Some(id) => {
                let id: [u8; 32] = id.try_into().unwrap_or([0; 32]);
                self.store
                    .read(move |c| {
                        crate::store::files::get(c, &[crate::store::messages::PUBLIC_VIEWER], &id)
                    })
                    .await?
                    .and_then(|row| row.public_ref())
            }
            None => None,
        };
        let profile = seal::Profile {
            username: user.username,
            display_name: user.display_name,
            bio: user.bio,
            avatar,
            node_addrs: Vec::new(),
        };
        self.publish_profile(keys, &profile).await.map(|_| ())
    }

    /// The room name and description `keys`' account last opened.
    pub async fn room_info(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
    ) -> Result<Option<(String, String)>, StoreError> {
        let me = keys.account_id();
        let sealed = self
            .store
            .read(move |c| private::room_info(c, &me.0, &room.0))
            .await?;
        Ok(sealed
            .and_then(|s| wrap::open(keys.master.expose(), PRIVATE_CONTENT_LABEL, &s).ok())
            .and_then(|plain| match Content::decode(&plain) {
                Ok(Content::RoomInfo { name, description }) => Some((name, description)),
                _ => None,
            }))
    }
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

pub(crate) fn room_info_of(content: &Content) -> Option<u64> {
    matches!(content, Content::RoomInfo { .. }).then(now_ms)
}

/// The message row a viewer stores for opened content: sealed under its master key.
pub(crate) fn private_row(
    keys: &UnlockedKeys,
    envelope: &Envelope,
    id: EnvelopeId,
    content: &Content,
) -> Result<Option<MessageRow>, RoomError> {
    let Content::Message { reply_to, .. } = content else {
        return Ok(None);
    };
    let plain = content
        .encode()
        .map_err(|e| RoomError::Rejected(Rejection::Invalid(e.to_string())))?;
    Ok(Some(MessageRow {
        viewer: keys.account_id().0,
        id: id.0,
        room: envelope.header.room.0,
        author: envelope.header.author.0,
        text: String::new(),
        files: "[]".into(),
        reply_to: reply_to.map(|r| r.0),
        sealed: Some(wrap::seal(
            keys.master.expose(),
            PRIVATE_CONTENT_LABEL,
            &plain,
        )),
        sent_at: envelope.header.timestamp_ms,
        edited_at: None,
        deleted: false,
    }))
}
