//! `GET /api/v1/events`: the live event WebSocket.
//!
//! It subscribes to the event bus before sending anything, so nothing published after the
//! upgrade is missed; a client that falls too far behind is closed (code 1013) and reconnects,
//! catching up through the history API. Send and receive run together; when one ends, both do.
//!
//! A public message looks the same to every socket but its author's (which also gets its
//! delivery state), so its frame is rendered once and shared through [`FrameCache`]: with 200
//! sockets open, one store read and one serialisation per message instead of 200.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
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
use std::collections::HashSet;

/// The latest public `message.created` frames, by message id, as non-authors see them.
#[derive(Debug, Default)]
pub struct FrameCache(std::sync::Mutex<std::collections::VecDeque<([u8; 32], Arc<str>)>>);

/// Frames kept: sockets read the bus in step, so a short window serves them all.
const FRAMES_KEPT: usize = 256;

impl FrameCache {
    fn get(&self, id: &[u8; 32]) -> Option<Arc<str>> {
        let frames = self.0.lock().unwrap_or_else(|e| e.into_inner());
        frames
            .iter()
            .rev()
            .find(|(k, _)| k == id)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, id: [u8; 32], frame: Arc<str>) {
        let mut frames = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if frames.len() >= FRAMES_KEPT {
            frames.pop_front();
        }
        frames.push_back((id, frame));
    }
}

/// GET /api/v1/events
pub async fn events(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve(socket, state, session))
}

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
    let (mut sink, mut stream) = socket.split();
    let peers = state.net.peers().await.map(|p| p.len()).unwrap_or(0);
    let hello = json!({"type": "node.peers", "connected": peers}).to_string();
    if sink.send(Message::Text(hello.into())).await.is_ok() {
        let send = async {
            // Frames are fed into the socket's buffer as long as events are waiting and flushed
            // once the bus is drained: under load, one write for many frames.
            let mut next = events.recv().await;
            loop {
                let frame: Arc<str> = match next {
                    Ok(event) => match render_shared(&state, &session, &mut rooms, event).await {
                        Some(frame) => frame,
                        None => {
                            next = recv_or_flush(&mut events, &mut sink).await;
                            continue;
                        }
                    },
                    Err(RecvError::Lagged(_)) => {
                        let close = CloseFrame {
                            code: 1013,
                            reason: "fell behind; reconnect and catch up".into(),
                        };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        break;
                    }
                    Err(RecvError::Closed) => break,
                };
                if sink.feed(Message::Text((&*frame).into())).await.is_err() {
                    break;
                }
                next = recv_or_flush(&mut events, &mut sink).await;
            }
        };
        let receive = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        tokio::select! {
            _ = send => {}
            _ = receive => {}
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

/// The next bus event: at once when one is waiting, else after flushing what was fed.
async fn recv_or_flush(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
) -> Result<NodeEvent, RecvError> {
    match events.try_recv() {
        Ok(event) => Ok(event),
        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
        Err(tokio::sync::broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
        Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
            if sink.flush().await.is_err() {
                return Err(RecvError::Closed);
            }
            events.recv().await
        }
    }
}

/// [`render`], with public messages rendered once for all non-author sockets.
async fn render_shared(
    state: &NodeState,
    session: &Session,
    rooms: &mut HashSet<RoomId>,
    event: NodeEvent,
) -> Option<Arc<str>> {
    if let NodeEvent::MessageCreated(row) = &event
        && row.viewer == PUBLIC_VIEWER
        && row.author != session.user.0
    {
        if let Some(frame) = state.frames.get(&row.id) {
            return Some(frame);
        }
        let id = row.id;
        let frame: Arc<str> = render(state, session, rooms, event).await?.into();
        state.frames.put(id, frame.clone());
        return Some(frame);
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
        NodeEvent::MessageCreated(row) => {
            if row.viewer != PUBLIC_VIEWER && row.viewer != session.user.0 {
                return None;
            }
            let message = super::message_ops::message_for(state, session, &row)
                .await
                .ok()?;
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
