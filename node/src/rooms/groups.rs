//! Group and direct rooms: the control log, room state and control operations
//! (docs/protocol.md, "Group and direct rooms"). Sending sealed content (sender chains, key
//! delivery) lives in [`super::sending`]; receiving (deliveries, opening sealed content) in
//! [`super::opening`]. Decrypted content is stored sealed under the reading account's master key.

use std::sync::Arc;

use chatly_crypto::wrap;
use chatly_protocol::control::ControlOp;
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, Header, Kind, RoomId};

use super::membership::{self, ControlEntry, RoomState};
use super::seal::{self, Rejection};
use super::{RoomError, Rooms};
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::Topic;
use crate::store::messages::MessageRow;
use crate::store::{StoreError, now_ms, private};

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

/// The state of a room from the store (inside a transaction or on a reader), resolved afresh;
/// [`super::states::RoomStates`] keeps them.
pub fn load_state(conn: &rusqlite::Connection, room: RoomId) -> Result<RoomState, StoreError> {
    Ok(membership::resolve(
        room,
        &control_entries(private::control_envelopes(conn, &room.0)?),
    ))
}

impl Rooms {
    /// The resolved state of a room.
    pub async fn room_state(&self, room: RoomId) -> Result<Arc<RoomState>, StoreError> {
        self.states.get(room).await
    }

    /// Every group or direct room `account` is a member of, with its state.
    pub async fn rooms_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<(RoomId, Arc<RoomState>)>, StoreError> {
        let states = self.states.clone();
        self.store
            .read(move |c| {
                let mut out = Vec::new();
                for room in private::rooms(c)? {
                    let state = states.load(c, RoomId(room))?;
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
    ) -> Result<Arc<RoomState>, RoomError> {
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
