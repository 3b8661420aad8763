//! `GET /api/v1/events`: the live event WebSocket.
//!
//! It subscribes to the event bus before sending anything, so nothing published after the
//! upgrade is missed; a client that falls too far behind is closed (code 1013) and reconnects,
//! catching up through the history API. Send and receive run together; when one ends, both do.
//!
//! A new message looks the same to every socket of one account, and a public one to every socket
//! but its author's (which also gets its delivery state), so its frame is rendered once and shared
//! through [`FrameCache`]: with 200 sockets open, one serialisation per message instead of 200.
//! The frame comes from the event's row alone (with its delivery state from memory for a post
//! its author just made here) unless the store may hold operations on it (edits or reactions
//! that arrived first) or it is the author's own from elsewhere (fetched back by sync); then one
//! store read.
//!
//! Frames are fed into a socket while events are waiting and flushed once the bus is drained
//! ([`Batcher`]): under load, one write carries many frames; otherwise each goes out at once.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Auth;
use super::types::{UserJson, rfc3339};
use crate::NodeState;
use crate::accounts::Session;
use crate::events::NodeEvent;
use crate::store::messages::PUBLIC_VIEWER;
use crate::store::now_ms;
use chatly_protocol::{AccountId, RoomId};
use std::collections::{HashMap, HashSet, VecDeque};

/// Which rendering of a new message a socket needs: (message id, viewer row, seen by its author).
/// Every socket of one account, and every non-author socket of a public message, share one.
type FrameKey = ([u8; 32], [u8; 32], bool);

/// One frame, rendered by whichever socket gets there first while the others wait for it.
type SharedFrame = Arc<tokio::sync::OnceCell<Option<Utf8Bytes>>>;

/// The latest `message.created` frames. Sockets read the bus in step, so without the shared
/// cell all of them would miss at once and render the same message 200 times.
#[derive(Debug, Default)]
pub struct FrameCache(std::sync::Mutex<Frames>);

/// The cells by key, and the keys oldest first (the next to forget).
#[derive(Debug, Default)]
struct Frames {
    cells: HashMap<FrameKey, SharedFrame>,
    order: VecDeque<FrameKey>,
}

/// Frames kept: a socket further behind than this renders its own.
const FRAMES_KEPT: usize = 1024;

impl FrameCache {
    fn cell(&self, key: FrameKey) -> SharedFrame {
        let mut frames = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = frames.cells.get(&key) {
            return cell.clone();
        }
        if frames.order.len() >= FRAMES_KEPT
            && let Some(oldest) = frames.order.pop_front()
        {
            frames.cells.remove(&oldest);
        }
        let cell = SharedFrame::default();
        frames.order.push_back(key);
        frames.cells.insert(key, cell.clone());
        cell
    }
}

/// GET /api/v1/events
pub async fn events(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Clients send little; tungstenite zeroes its whole read buffer before each read, so a
    // small one saves a 128 KiB memset per read.
    upgrade
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(socket, state, session))
}

/// Bytes read from a client socket at a time.
const READ_BUFFER: usize = 4096;

async fn serve(socket: WebSocket, state: Arc<NodeState>, session: Session) {
    let mut events = state.bus.subscribe();
    let user = session.user;
    state.metrics.websocket_clients.inc();
    let change = state
        .presence
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .socket_opened(user, now_ms());
    if let Some(change) = change {
        state.bus.publish(NodeEvent::Presence {
            user: change.user,
            online: true,
            last_seen: Some(change.last_seen),
        });
        state.signals.announce(user, true).await;
    }
    let mut rooms: HashSet<RoomId> = state
        .rooms
        .rooms_of(user)
        .await
        .map(|l| l.into_iter().map(|(r, _)| r).collect())
        .unwrap_or_default();
    let (sink, mut stream) = socket.split();
    let mut sink = Batcher::new(sink);
    let peers = state.net.peers().await.map(|p| p.len()).unwrap_or(0);
    let hello = json!({"type": "node.peers", "connected": peers}).to_string();
    if sink.send_now(hello.into()).await.is_ok() {
        let send = async {
            let mut next = events.recv().await;
            loop {
                let frame = match next {
                    Ok(event) => render_shared(&state, &session, &mut rooms, event).await,
                    Err(RecvError::Lagged(_)) => {
                        sink.close(1013, "fell behind; reconnect and catch up")
                            .await;
                        break;
                    }
                    Err(RecvError::Closed) => break,
                };
                if let Some(frame) = frame
                    && sink.feed(frame).await.is_err()
                {
                    break;
                }
                next = sink.next_event(&mut events).await;
            }
        };
        let receive = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let stopping = tokio::select! {
            _ = send => false,
            _ = receive => false,
            _ = state.shutdown.cancelled() => true,
        };
        if stopping {
            sink.close(1001, "the node is shutting down").await;
        }
    }
    state.metrics.websocket_clients.dec();
    let change = state
        .presence
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .socket_closed(user, now_ms());
    if let Some(change) = change {
        state.bus.publish(NodeEvent::Presence {
            user: change.user,
            online: false,
            last_seen: Some(change.last_seen),
        });
        state.signals.announce(user, false).await;
    }
}

/// A socket's sending half that batches writes (see the module docs).
struct Batcher {
    sink: futures::stream::SplitSink<WebSocket, Message>,
    /// Frames fed since the last flush.
    pending: bool,
}

impl Batcher {
    fn new(sink: futures::stream::SplitSink<WebSocket, Message>) -> Batcher {
        Batcher {
            sink,
            pending: false,
        }
    }

    async fn send_now(&mut self, frame: Utf8Bytes) -> Result<(), axum::Error> {
        self.feed(frame).await?;
        self.flush().await
    }

    async fn feed(&mut self, frame: Utf8Bytes) -> Result<(), axum::Error> {
        self.pending = true;
        self.sink.feed(Message::Text(frame)).await
    }

    async fn flush(&mut self) -> Result<(), axum::Error> {
        self.pending = false;
        self.sink.flush().await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.sink.send(Message::Close(Some(close))).await;
    }

    /// The next bus event: at once when one is waiting; otherwise what was fed is written and
    /// the bus awaited.
    async fn next_event(
        &mut self,
        events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    ) -> Result<NodeEvent, RecvError> {
        use tokio::sync::broadcast::error::TryRecvError;
        loop {
            match events.try_recv() {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) if self.pending => {
                    if self.flush().await.is_err() {
                        return Err(RecvError::Closed);
                    }
                }
                Err(TryRecvError::Empty) => return events.recv().await,
            }
        }
    }
}

/// [`render`], with each new message rendered once per [`FrameKey`].
async fn render_shared(
    state: &NodeState,
    session: &Session,
    rooms: &mut HashSet<RoomId>,
    event: NodeEvent,
) -> Option<Utf8Bytes> {
    if let NodeEvent::MessageCreated { row, .. } = &event {
        if row.viewer != PUBLIC_VIEWER && row.viewer != session.user.0 {
            return None;
        }
        let key = (row.id, row.viewer, row.author == session.user.0);
        let cell = state.frames.cell(key);
        return cell
            .get_or_init(|| async { render(state, session, rooms, event).await.map(Into::into) })
            .await
            .clone();
    }
    render(state, session, rooms, event).await.map(Into::into)
}

/// Whether this session hears a room signal of `author` meant for `audience` (`None`: everyone).
fn hears(session: &Session, author: AccountId, audience: Option<&[AccountId]>) -> bool {
    author != session.user && audience.is_none_or(|a| a.contains(&session.user))
}

/// The frame for an event, or `None` when this session may not see it. `rooms` holds the private
/// rooms this session is in, to tell `room.updated` from `room.removed`.
async fn render(
    state: &NodeState,
    session: &Session,
    rooms: &mut HashSet<RoomId>,
    event: NodeEvent,
) -> Option<String> {
    let value = match event {
        NodeEvent::MessageCreated {
            row,
            may_have_ops,
            posted_here,
        } => {
            if row.viewer != PUBLIC_VIEWER && row.viewer != session.user.0 {
                return None;
            }
            let mine = row.author == session.user.0;
            let message = if may_have_ops || (mine && !posted_here) {
                // Operations to fold in, or the author's delivery state: one store read.
                super::message_ops::message_for(state, session, &row)
                    .await
                    .ok()?
            } else if mine {
                // A post just made here: queued, or sent once published, as in its 201.
                super::message_ops::posted_json(state, session, &row)
            } else {
                super::rooms::message_json(&row, &session.keys)
            };
            json!({"type": "message.created", "message": message})
        }
        NodeEvent::Delivery {
            room,
            author,
            id,
            delivery,
        } => {
            if author != session.user {
                return None;
            }
            json!({
                "type": "message.delivery",
                "room_id": room.to_api(),
                "message_id": hex::encode(id),
                "delivery": super::types::delivery_json(delivery),
            })
        }
        NodeEvent::RoomUpdated(room) => {
            let room_state = state.rooms.room_state(room).await.ok()?;
            if room_state.is_member(&session.user) {
                rooms.insert(room);
                let json = super::rooms::private_room(state, session, room, &room_state)
                    .await
                    .ok()?;
                json!({"type": "room.updated", "room": json})
            } else if rooms.remove(&room) {
                json!({"type": "room.removed", "room_id": room.to_api()})
            } else {
                return None;
            }
        }
        NodeEvent::RoomData(_) => return None,
        NodeEvent::UserUpdated(row) => {
            let user = UserJson::new(
                &row,
                &state.presence.lock().unwrap_or_else(|e| e.into_inner()),
            );
            json!({"type": "user.updated", "user": user})
        }
        NodeEvent::Presence {
            user,
            online,
            last_seen,
        } => json!({
            "type": "presence",
            "user_id": hex::encode(user.0),
            "online": online,
            "last_seen": last_seen.map(rfc3339),
        }),
        NodeEvent::PeerCount(n) => json!({"type": "node.peers", "connected": n}),
        NodeEvent::FileProgress {
            viewer,
            file,
            done,
            total,
        } => {
            if viewer != session.user {
                return None;
            }
            json!({"type": "file.progress", "file_id": hex::encode(file), "done": done, "total": total})
        }
        NodeEvent::MessageChanged {
            viewer,
            room,
            target,
        } => {
            if viewer != PUBLIC_VIEWER && viewer != session.user.0 {
                return None;
            }
            let row = state
                .store
                .read(move |c| crate::store::messages::get(c, &viewer, &target))
                .await
                .ok()??;
            let message = super::message_ops::message_for(state, session, &row)
                .await
                .ok()?;
            if message.deleted {
                json!({"type": "message.deleted", "room_id": room.to_api(), "message_id": message.id})
            } else {
                json!({"type": "message.updated", "message": message})
            }
        }
        NodeEvent::Typing {
            room,
            user,
            audience,
        } => {
            if !hears(session, user, audience.as_deref()) {
                return None;
            }
            json!({"type": "typing", "room_id": room.to_api(), "user_id": user.to_hex()})
        }
        NodeEvent::Receipt {
            room,
            user,
            message,
            audience,
        } => {
            if !hears(session, user, audience.as_deref()) {
                return None;
            }
            json!({
                "type": "receipt",
                "room_id": room.to_api(),
                "user_id": user.to_hex(),
                "message_id": message.to_hex(),
            })
        }
    };
    Some(value.to_string())
}
