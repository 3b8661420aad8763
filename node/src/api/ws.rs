//! `GET /api/v1/events`: the live event WebSocket.
//!
//! It subscribes to the event bus before sending anything, so nothing published after the
//! upgrade is missed; a client that falls too far behind is closed (code 1013) and reconnects,
//! catching up through the history API. Send and receive run together; when one ends, both do.

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
            loop {
                let frame = match events.recv().await {
                    Ok(event) => match render(&state, &session, &mut rooms, event).await {
                        Some(frame) => frame,
                        None => continue,
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
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
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
