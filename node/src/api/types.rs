//! JSON shapes of the API (docs/api.md). Built from store rows; never sent over the mesh.

use serde::Serialize;
use serde_json::Value;

use crate::presence::Presence;
use crate::rooms::seal::node_peer_id;
use crate::store::messages::MessageRow;
use crate::store::users::UserRow;
use chatly_protocol::{AccountId, RoomId};

/// `User`.
#[derive(Debug, Clone, Serialize)]
pub struct UserJson {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub avatar: Option<String>,
    pub bio: String,
    pub node_id: String,
    pub online: bool,
    pub last_seen: Option<String>,
    pub fingerprint: String,
    /// Addition: where the home node can be dialed, from the account record.
    pub node_addrs: Vec<String>,
}

impl UserJson {
    /// From a directory row and the presence table.
    pub fn new(row: &UserRow, presence: &Presence) -> Self {
        let (online, last_seen) = presence.status(&AccountId(row.user_id));
        Self {
            id: hex::encode(row.user_id),
            username: row.username.clone(),
            display_name: row.display_name.clone(),
            avatar: row.avatar.clone(),
            bio: row.bio.clone(),
            node_id: node_peer_id(&row.node_public)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            online,
            last_seen: last_seen.map(rfc3339),
            fingerprint: chatly_crypto::fingerprint(&row.user_id),
            node_addrs: row.node_addrs.clone(),
        }
    }
}

/// `Message`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageJson {
    pub id: String,
    pub room_id: String,
    pub author: String,
    pub text: String,
    pub files: Value,
    pub reply_to: Option<String>,
    pub sent_at: String,
    pub edited_at: Option<String>,
    pub deleted: bool,
    pub reactions: Value,
    /// The author's own messages only: `{state: "queued" | "sent" | "held", peers}`.
    pub delivery: Option<Value>,
}

impl From<&MessageRow> for MessageJson {
    fn from(row: &MessageRow) -> Self {
        Self {
            id: hex::encode(row.id),
            room_id: RoomId(row.room).to_api(),
            author: hex::encode(row.author),
            text: if row.deleted {
                String::new()
            } else {
                row.text.clone()
            },
            files: serde_json::from_str(&row.files).unwrap_or(Value::Array(Vec::new())),
            reply_to: row.reply_to.map(hex::encode),
            sent_at: rfc3339(row.sent_at),
            edited_at: row.edited_at.map(rfc3339),
            deleted: row.deleted,
            reactions: Value::Object(serde_json::Map::new()),
            delivery: None,
        }
    }
}

/// `Room`.
#[derive(Debug, Clone, Serialize)]
pub struct RoomJson {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
    pub admins: Vec<String>,
    pub unread: u64,
    pub last_message: Option<MessageJson>,
    pub encrypted: bool,
}

/// Milliseconds since the epoch as an RFC 3339 UTC string.
pub fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A delivery state as JSON: `{state, peers}`.
pub fn delivery_json(delivery: crate::store::sync::Delivery) -> Value {
    use crate::store::sync::Delivery;
    let (state, peers) = match delivery {
        Delivery::Queued => ("queued", 0),
        Delivery::Sent => ("sent", 0),
        Delivery::Held(n) => ("held", n),
    };
    serde_json::json!({"state": state, "peers": peers})
}
