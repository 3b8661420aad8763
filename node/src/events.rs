//! The node's event bus: everything the UI hears live, fanned out to every WebSocket.

use chatly_protocol::AccountId;
use tokio::sync::broadcast;

use crate::store::messages::MessageRow;
use crate::store::users::UserRow;

/// Events a client may be told about (each WebSocket filters what its account may see).
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// A new readable message was stored.
    MessageCreated {
        /// The message.
        row: MessageRow,
        /// Whether edits, reactions or deletions aimed at it may be stored already (they can
        /// arrive before it), so showing it needs a store read. False only when the transaction
        /// that stored it found none: then its other readers' frame is the row alone.
        may_have_ops: bool,
        /// Whether it is a post a local account just made here (stored with its outbox entry):
        /// no peer can have reported holding it yet, so its author's frame needs no store read
        /// for its delivery state either.
        posted_here: bool,
    },
    /// A message was edited, deleted or reacted to (as `viewer` sees it).
    MessageChanged {
        /// `PUBLIC_VIEWER` or the local account that opened the operation.
        viewer: [u8; 32],
        /// Its room.
        room: chatly_protocol::RoomId,
        /// The message.
        target: [u8; 32],
    },
    /// An account record arrived or changed.
    UserUpdated(UserRow),
    /// An account came online or went offline.
    Presence {
        /// Whose presence.
        user: AccountId,
        /// Online now.
        online: bool,
        /// When last seen online, ms.
        last_seen: Option<u64>,
    },
    /// Someone is typing in a room.
    Typing {
        /// The room.
        room: chatly_protocol::RoomId,
        /// Who types.
        user: AccountId,
        /// The local accounts that may hear it; `None`: everyone (the public room).
        audience: Option<Vec<AccountId>>,
    },
    /// Someone read a room up to a message.
    Receipt {
        /// The room.
        room: chatly_protocol::RoomId,
        /// Who read.
        user: AccountId,
        /// The newest message read.
        message: chatly_protocol::EnvelopeId,
        /// The local accounts that may hear it; `None`: everyone (the public room).
        audience: Option<Vec<AccountId>>,
    },
    /// A download fetched more of a file from peers.
    FileProgress {
        /// The account downloading (only its clients are told).
        viewer: AccountId,
        /// The file id.
        file: [u8; 32],
        /// Bytes fetched so far (counting chunks already here).
        done: u64,
        /// The file's size.
        total: u64,
    },
    /// The number of connected peer nodes changed.
    PeerCount(usize),
    /// A group or direct room's membership, roles or name may have changed.
    RoomUpdated(chatly_protocol::RoomId),
    /// Sealed content or a key delivery arrived in a room: local members may open something.
    RoomData(chatly_protocol::RoomId),
    /// A local author's envelope moved on its way to other nodes.
    Delivery {
        /// Its room.
        room: chatly_protocol::RoomId,
        /// Its author (only this account's clients are told).
        author: AccountId,
        /// Envelope (message) id.
        id: [u8; 32],
        /// Where it stands now.
        delivery: crate::store::sync::Delivery,
    },
}

/// How many events a slow WebSocket may lag behind before it is told to reconnect and catch up.
const CAPACITY: usize = 8192;

/// A cloneable sender; subscribers get every event published after they subscribed.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<NodeEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Publishes an event (nobody listening is fine).
    pub fn publish(&self, event: NodeEvent) {
        let _ = self.tx.send(event);
    }

    /// Subscribes to events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.tx.subscribe()
    }
}
