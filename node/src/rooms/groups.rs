//! Group and direct rooms: the control log, sender chains, key delivery, sealed posts, and
//! opening what arrives (docs/protocol.md, "Group and direct rooms").
//!
//! One mechanism keeps chains right: [`Rooms::ensure_chain`] runs before every sealed post. It
//! starts a new chain when there is none, when the chain is old or full, or when anyone it was
//! delivered to has left the room (so a removed member never gets a key used after its removal),
//! and delivers the current chain to members who do not have it yet (so a new member reads from
//! its join on). Decrypted content is stored sealed under the reading account's master key.

use chatly_crypto::{ReceiverChain, SenderChain, wrap};
use chatly_protocol::control::{ControlOp, KeyDelivery};
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, HEADER_LEN, Header, Kind, RoomId};

use super::membership::{self, ControlEntry, RoomState};
use super::seal::{self, Rejection};
use super::{RoomError, Rooms};
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::messages::{self, MessageRow};
use crate::store::{StoreError, now_ms, private, users};

/// AEAD label of private content sealed under an account's master key at rest.
pub const PRIVATE_CONTENT_LABEL: &str = "chatly/v1/private-content";
/// AEAD label of chain state sealed under an account's master key at rest.
const CHAIN_LABEL: &str = "chatly/v1/chain-state";

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
        let guard = self.lock_author(room, author).await;
        self.publish_locked(&guard, author, room, Topic::Rooms, |seq, prev, now| {
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
        Ok(state)
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
        let guard = self.lock_author(room, author).await;
        let mut chain = self.ensure_chain(&guard, keys, room, &state).await?;
        let (index, message_key) = chain.next_key();
        let chain_id = chain.state().chain_id;
        let checked = self
            .publish_locked(&guard, author, room, Topic::Rooms, |seq, prev, now| {
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
        self.save_sender_chain(keys, room, &chain, None).await?;
        let row = private_row(
            keys,
            &checked.verified.envelope,
            checked.verified.id,
            &content,
        )?;
        let (store_row, info) = (row.clone(), room_info_of(&content));
        let master = *keys.master.expose();
        self.store
            .write(move |txn| {
                let opened = Opened {
                    account: author,
                    room,
                    id: checked.verified.id,
                    row: store_row.as_ref(),
                    info_at: info,
                    plain: &plain,
                };
                opened.record(txn, &master)
            })
            .await?;
        drop(guard);
        match row {
            Some(row) => {
                self.bus.publish(NodeEvent::MessageCreated(row.clone()));
                Ok(row)
            }
            None => {
                self.bus.publish(NodeEvent::RoomUpdated(room));
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
    async fn ensure_chain(
        &self,
        guard: &super::AuthorGuard,
        keys: &UnlockedKeys,
        room: RoomId,
        state: &RoomState,
    ) -> Result<SenderChain, RoomError> {
        let author = keys.account_id();
        let stored = self
            .store
            .read(move |c| private::sender_chain(c, &author.0, &room.0))
            .await?;
        let members: Vec<AccountId> = state
            .members
            .iter()
            .filter(|m| **m != author)
            .copied()
            .collect();
        let now = now_ms();
        let (chain, mut delivered) = match stored
            .and_then(|(sealed, to)| open_sender_chain(keys, &sealed).map(|c| (c, to)))
        {
            Some((chain, to))
                if !chain.needs_rotation(now)
                    && to.iter().all(|m| state.is_member(&AccountId(*m))) =>
            {
                (chain, to)
            }
            _ => (SenderChain::new(now), Vec::new()),
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
        self.save_sender_chain(keys, room, &chain, Some(delivered))
            .await?;
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

    /// Opens whatever `keys`' account can newly open in `room`: deliveries to it, then sealed
    /// content. Returns how many messages it opened.
    pub async fn open_room(&self, keys: &UnlockedKeys, room: RoomId) -> Result<usize, StoreError> {
        let me = keys.account_id();
        let (state, deliveries, sealed) = self
            .store
            .read(move |c| {
                Ok((
                    load_state(c, room)?,
                    private::deliveries(c, &me.0, &room.0)?,
                    private::unopened(c, &me.0, &room.0)?,
                ))
            })
            .await?;
        if !state.is_member(&me) && !state.departed.contains_key(&me) {
            return Ok(0);
        }
        for bytes in deliveries {
            self.accept_delivery(keys, room, &bytes).await?;
        }
        let mut opened = 0;
        for bytes in sealed {
            opened += usize::from(self.open_sealed(keys, room, &state, bytes).await?);
        }
        Ok(opened)
    }

    async fn accept_delivery(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let me = keys.account_id();
        let Ok(envelope) = Envelope::decode(bytes) else {
            return Ok(());
        };
        let Ok(delivery) = KeyDelivery::decode(&envelope.body) else {
            return Ok(());
        };
        if delivery.recipient != me {
            return Ok(());
        }
        let id = EnvelopeId(chatly_crypto::envelope_id(bytes));
        let sender = envelope.header.author;
        let parcel = chatly_crypto::Delivery {
            ephemeral: delivery.ephemeral,
            sealed: delivery.sealed,
        };
        let accepted = match keys.prekey_for(&delivery.recipient_prekey) {
            Some(prekey) => {
                chatly_crypto::accept(&parcel, &room.0, &sender.0, &me.0, prekey, &keys.dh)
            }
            None => Err(chatly_crypto::CryptoError::Malformed(
                "a prekey this account no longer has",
            )),
        };
        let master = *keys.master.expose();
        self.store
            .write(move |txn| {
                match accepted {
                    Ok(state) => {
                        let chain_id = state.chain_id;
                        let sealed =
                            wrap::seal(&master, CHAIN_LABEL, &ReceiverChain::new(state).to_bytes());
                        if private::receiver_chain(txn, &me.0, &room.0, &sender.0, &chain_id)?
                            .is_none()
                        {
                            private::put_receiver_chain(
                                txn, &me.0, &room.0, &sender.0, &chain_id, &sealed,
                            )?;
                        }
                    }
                    Err(e) => tracing::debug!(%sender, error = %e, "a key delivery did not open"),
                }
                private::mark_opened(txn, &me.0, &id.0)
            })
            .await
    }

    /// Opens one sealed envelope; `Ok(true)` when it made a message row.
    async fn open_sealed(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        state: &RoomState,
        bytes: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let me = keys.account_id();
        let Ok(envelope) = Envelope::decode(&bytes) else {
            return Ok(false);
        };
        let id = EnvelopeId(chatly_crypto::envelope_id(&bytes));
        let header = envelope.header.clone();
        let (sender, chain_id) = (header.author, header.key_id);
        let Some(sealed_chain) = self
            .store
            .read(move |c| private::receiver_chain(c, &me.0, &room.0, &sender.0, &chain_id))
            .await?
        else {
            return Ok(false); // its delivery has not arrived (yet): try again later
        };
        let Some(mut chain) = wrap::open(keys.master.expose(), CHAIN_LABEL, &sealed_chain)
            .ok()
            .and_then(|b| ReceiverChain::from_bytes(&b).ok())
        else {
            return Ok(false);
        };
        let opened = chain
            .message_key(header.key_index)
            .ok()
            .and_then(|key| {
                chatly_crypto::open_message(
                    &key,
                    &header.nonce,
                    &bytes[..HEADER_LEN],
                    &envelope.body,
                )
                .ok()
            })
            .and_then(|plain| Content::decode(&plain).ok().map(|c| (c, plain)));
        let master = *keys.master.expose();
        let chain_sealed = wrap::seal(&master, CHAIN_LABEL, &chain.to_bytes());
        let Some((content, plain)) = opened else {
            self.store
                .write(move |txn| private::mark_unopenable(txn, &me.0, &id.0))
                .await?;
            return Ok(false);
        };
        let row = private_row(keys, &envelope, id, &content).ok().flatten();
        let info = room_info_of(&content).filter(|_| state.is_admin(&sender));
        let store_row = row.clone();
        self.store
            .write(move |txn| {
                private::put_receiver_chain(
                    txn,
                    &me.0,
                    &room.0,
                    &sender.0,
                    &chain_id,
                    &chain_sealed,
                )?;
                let opened = Opened {
                    account: me,
                    room,
                    id,
                    row: store_row.as_ref(),
                    info_at: info,
                    plain: &plain,
                };
                opened.record(txn, &master)
            })
            .await?;
        match row {
            Some(row) => self.bus.publish(NodeEvent::MessageCreated(row)),
            None => self.bus.publish(NodeEvent::RoomUpdated(room)),
        }
        Ok(true)
    }

    /// Publishes a new account record when the one in the directory carries an older prekey.
    pub async fn refresh_record(&self, keys: &UnlockedKeys) -> Result<(), RoomError> {
        let Some(user) = self.user(keys.account_id()).await? else {
            return Ok(());
        };
        if user.prekey_public == keys.prekey.public() {
            return Ok(());
        }
        let profile = seal::Profile {
            username: user.username,
            display_name: user.display_name,
            bio: user.bio,
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

/// What an account opened from one sealed envelope.
struct Opened<'a> {
    account: AccountId,
    room: RoomId,
    id: EnvelopeId,
    /// The message row, when the content was a message.
    row: Option<&'a MessageRow>,
    /// When the content was a valid room info: its time.
    info_at: Option<u64>,
    /// The content's encoding.
    plain: &'a [u8],
}

impl Opened<'_> {
    /// Stores it: the message row, or the room info (sealed under the master key), and otherwise
    /// just the fact that it was opened, so it is not tried again.
    fn record(&self, txn: &rusqlite::Transaction<'_>, master: &[u8; 32]) -> Result<(), StoreError> {
        if let Some(row) = self.row {
            return messages::insert(txn, row);
        }
        if let Some(sent_at) = self.info_at {
            let sealed = wrap::seal(master, PRIVATE_CONTENT_LABEL, self.plain);
            private::put_room_info(txn, &self.account.0, &self.room.0, &sealed, sent_at)?;
        }
        private::mark_opened(txn, &self.account.0, &self.id.0)
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

fn room_info_of(content: &Content) -> Option<u64> {
    matches!(content, Content::RoomInfo { .. }).then(now_ms)
}

/// The message row a viewer stores for opened content: sealed under its master key.
fn private_row(
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

/// Opens a private row's content with the viewer's keys: (text, files JSON).
pub fn open_row(keys: &UnlockedKeys, row: &MessageRow) -> Option<(String, String)> {
    let sealed = row.sealed.as_ref()?;
    let plain = wrap::open(keys.master.expose(), PRIVATE_CONTENT_LABEL, sealed).ok()?;
    match Content::decode(&plain).ok()? {
        Content::Message { text, files, .. } => {
            let files = serde_json::Value::Array(
                files.iter().map(|f| serde_json::json!({"id": hex::encode(f.id), "name": f.name, "size": f.size, "mime": f.mime})).collect(),
            );
            Some((text, files.to_string()))
        }
        _ => None,
    }
}

/// Opens sealed content for unlocked local members as it arrives, and everything pending when an
/// account is unlocked, until shutdown.
pub async fn run_opener(
    rooms: std::sync::Arc<Rooms>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut events = rooms.bus.subscribe();
    loop {
        let room = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = rooms.vault.unlocks.notified() => {
                for keys in rooms.vault.all() {
                    if let Err(e) = rooms.refresh_record(&keys).await {
                        tracing::warn!(error = %e, "could not re-publish an account record");
                    }
                }
                None
            }
            event = events.recv() => match event {
                Ok(NodeEvent::RoomData(room) | NodeEvent::RoomUpdated(room)) => Some(room),
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        for keys in rooms.vault.all() {
            let targets = match room {
                Some(room) => vec![room],
                None => match rooms.rooms_of(keys.account_id()).await {
                    Ok(list) => list.into_iter().map(|(room, _)| room).collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list rooms to open");
                        continue;
                    }
                },
            };
            for room in targets {
                if let Err(e) = rooms.open_room(&keys, room).await {
                    tracing::warn!(error = %e, "opening sealed content failed");
                }
            }
        }
    }
}
