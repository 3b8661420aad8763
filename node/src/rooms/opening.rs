//! The receiving side of group and direct rooms: accepting key deliveries and opening sealed
//! content for every unlocked local member, as it arrives and when an account unlocks.

use chatly_crypto::{ReceiverChain, wrap};
use chatly_protocol::control::KeyDelivery;
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, HEADER_LEN, RoomId};

use super::Rooms;
use super::groups::{CHAIN_LABEL, PRIVATE_CONTENT_LABEL, load_state, private_row, room_info_of};
use super::membership::RoomState;
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::store::messages::{self, MessageRow};
use crate::store::{StoreError, private};

impl Rooms {
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
        let (sealed, newest) = sealed;
        let mut opened = 0;
        let mut later = Vec::new();
        for bytes in sealed {
            let id = chatly_crypto::envelope_id(&bytes);
            match self.open_sealed(keys, room, &state, bytes).await? {
                Opening::Made => opened += 1,
                Opening::Done => {}
                Opening::Later => later.push(id),
            }
        }
        self.store
            .write_relaxed(move |txn| private::mark_looked(txn, &me.0, &room.0, newest, &later))
            .await?;
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
            .write_relaxed(move |txn| {
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

    /// Opens one sealed envelope.
    async fn open_sealed(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        state: &RoomState,
        bytes: Vec<u8>,
    ) -> Result<Opening, StoreError> {
        let me = keys.account_id();
        let Ok(envelope) = Envelope::decode(&bytes) else {
            return Ok(Opening::Done);
        };
        let id = EnvelopeId(chatly_crypto::envelope_id(&bytes));
        let header = envelope.header.clone();
        let (sender, chain_id) = (header.author, header.key_id);
        let Some(sealed_chain) = self
            .store
            .read(move |c| private::receiver_chain(c, &me.0, &room.0, &sender.0, &chain_id))
            .await?
        else {
            return Ok(Opening::Later); // its delivery has not arrived (yet)
        };
        let Some(mut chain) = wrap::open(keys.master.expose(), CHAIN_LABEL, &sealed_chain)
            .ok()
            .and_then(|b| ReceiverChain::from_bytes(&b).ok())
        else {
            return Ok(Opening::Later);
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
                .write_relaxed(move |txn| private::mark_unopenable(txn, &me.0, &id.0))
                .await?;
            return Ok(Opening::Done);
        };
        let row = private_row(keys, &envelope, id, &content).ok().flatten();
        let info = room_info_of(&content).filter(|_| state.is_admin(&sender));
        let store_row = row.clone();
        let op = super::ops::op_row(
            me.0,
            &envelope,
            id,
            &content,
            super::ops::seal_private(&master),
        );
        let op_target = op.as_ref().map(|o| o.target);
        self.store
            .write_relaxed(move |txn| {
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
                    op: op.as_ref(),
                    plain: &plain,
                };
                opened.record(txn, &master)
            })
            .await?;
        let made = row.is_some();
        self.bus.publish(match (row, op_target) {
            (Some(row), _) => NodeEvent::MessageCreated(row),
            (None, Some(target)) => NodeEvent::MessageChanged {
                viewer: me.0,
                room,
                target,
            },
            (None, None) => NodeEvent::RoomUpdated(room),
        });
        Ok(if made { Opening::Made } else { Opening::Done })
    }
}

/// What became of one sealed envelope an account tried to open.
enum Opening {
    /// It made a message row.
    Made,
    /// Settled: opened (room info, an operation) or given up on for good.
    Done,
    /// Not yet: the key delivery it needs has not arrived.
    Later,
}

/// What an account opened from one sealed envelope.
pub(crate) struct Opened<'a> {
    pub(crate) account: AccountId,
    pub(crate) room: RoomId,
    pub(crate) id: EnvelopeId,
    /// The message row, when the content was a message.
    pub(crate) row: Option<&'a MessageRow>,
    /// When the content was a valid room info: its time.
    pub(crate) info_at: Option<u64>,
    /// When the content was an edit, deletion or reaction.
    pub(crate) op: Option<&'a crate::store::ops::OpRow>,
    /// The content's encoding.
    pub(crate) plain: &'a [u8],
}

impl Opened<'_> {
    /// Stores it: the message row, or the room info (sealed under the master key), and otherwise
    /// just the fact that it was opened, so it is not tried again.
    pub(crate) fn record(
        &self,
        txn: &rusqlite::Transaction<'_>,
        master: &[u8; 32],
    ) -> Result<(), StoreError> {
        if let Some(row) = self.row {
            messages::insert(txn, row)?;
            if let Ok(Content::Message { files, .. }) = Content::decode(self.plain)
                && !files.is_empty()
            {
                crate::files::record_refs(txn, self.account.0, &files, Some(master))?;
            }
            return Ok(());
        }
        if let Some(op) = self.op {
            crate::store::ops::insert(txn, op)?;
        }
        if let Some(sent_at) = self.info_at {
            let sealed = wrap::seal(master, PRIVATE_CONTENT_LABEL, self.plain);
            private::put_room_info(txn, &self.account.0, &self.room.0, &sealed, sent_at)?;
        }
        private::mark_opened(txn, &self.account.0, &self.id.0)
    }
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
