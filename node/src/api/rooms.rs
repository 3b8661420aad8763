//! Rooms as the API shows them: the public room, and end-to-end encrypted group and direct rooms
//! (messages are in [`super::messages`]; creating and changing rooms in
//! [`super::room_changes`]). A room the caller is not in answers 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use super::auth::Auth;
use super::error::ApiError;
use super::types::{MessageJson, RoomJson};
use crate::NodeState;
use crate::accounts::{Session, UnlockedKeys};
use crate::rooms::membership::{RoomKind, RoomState};
use crate::store::messages::{self, PUBLIC_VIEWER};
use crate::store::reads;
use chatly_protocol::RoomId;

/// Who reads a room's rows: everyone for the public room, the caller otherwise.
pub(crate) fn viewer(room: RoomId, session: &Session) -> [u8; 32] {
    if room == RoomId::PUBLIC {
        PUBLIC_VIEWER
    } else {
        session.user.0
    }
}

pub(crate) fn parse_room(id: &str) -> Result<RoomId, ApiError> {
    RoomId::from_api(id).map_err(|_| ApiError::not_found("no such room"))
}

/// The state of a room the caller is in, or 404.
pub(crate) async fn member_state(
    state: &NodeState,
    session: &Session,
    room: RoomId,
) -> Result<Arc<RoomState>, ApiError> {
    let room_state = state.rooms.room_state(room).await?;
    if room_state.is_member(&session.user) {
        Ok(room_state)
    } else {
        Err(ApiError::not_found("no such room"))
    }
}

/// A message row as JSON, opened with the viewer's keys when private.
pub fn message_json(row: &messages::MessageRow, keys: &UnlockedKeys) -> MessageJson {
    let mut json = MessageJson::from(row);
    if row.sealed.is_some() {
        let (text, files) = crate::rooms::opened::open_row(keys, row).unwrap_or_default();
        json.text = text;
        json.files = serde_json::from_str(&files).unwrap_or(serde_json::Value::Array(Vec::new()));
    }
    json
}

async fn public_room(state: &NodeState, session: &Session) -> Result<RoomJson, ApiError> {
    let me = session.user;
    let (members, last, unread) = state
        .store
        .read(move |c| {
            let members = crate::store::users::all(c)?
                .iter()
                .map(|u| hex::encode(u.user_id))
                .collect::<Vec<_>>();
            Ok((
                members,
                messages::last(c, &PUBLIC_VIEWER, &RoomId::PUBLIC.0)?,
                reads::unread(c, &PUBLIC_VIEWER, &me.0, &RoomId::PUBLIC.0)?,
            ))
        })
        .await?;
    Ok(RoomJson {
        id: RoomId::PUBLIC.to_api(),
        kind: "public",
        name: "Public".into(),
        description: "Everyone on the mesh".into(),
        members,
        admins: Vec::new(),
        unread,
        last_message: match &last {
            Some(row) => Some(super::message_ops::message_for(state, session, row).await?),
            None => None,
        },
        encrypted: false,
    })
}

/// A group or direct room as the caller sees it.
pub async fn private_room(
    state: &NodeState,
    session: &Session,
    room: RoomId,
    room_state: &RoomState,
) -> Result<RoomJson, ApiError> {
    let keys = &session.keys;
    let me = keys.account_id();
    let info = state.rooms.room_info(keys, room).await?;
    let (last, unread) = state
        .store
        .read(move |c| {
            Ok((
                messages::last(c, &me.0, &room.0)?,
                reads::unread(c, &me.0, &me.0, &room.0)?,
            ))
        })
        .await?;
    let direct = room_state.kind == Some(RoomKind::Direct);
    let (name, description) = match info {
        Some(info) => info,
        None if direct => {
            let other = room_state.members.iter().find(|m| **m != me).copied();
            let name = match other {
                Some(other) => state
                    .rooms
                    .user(other)
                    .await?
                    .map(|u| u.display_name)
                    .unwrap_or_default(),
                None => String::new(),
            };
            (name, String::new())
        }
        None => (String::new(), String::new()),
    };
    Ok(RoomJson {
        id: room.to_api(),
        kind: if direct { "direct" } else { "group" },
        name,
        description,
        members: room_state.members.iter().map(|m| m.to_hex()).collect(),
        admins: room_state.admins.iter().map(|m| m.to_hex()).collect(),
        unread,
        last_message: match &last {
            Some(row) => Some(super::message_ops::message_for(state, session, row).await?),
            None => None,
        },
        encrypted: true,
    })
}

pub(crate) async fn room_json(
    state: &NodeState,
    session: &Session,
    room: RoomId,
) -> Result<RoomJson, ApiError> {
    if room == RoomId::PUBLIC {
        return public_room(state, session).await;
    }
    let room_state = member_state(state, session, room).await?;
    private_room(state, session, room, &room_state).await
}

/// GET /api/v1/rooms
pub async fn list(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
) -> Result<Json<Vec<RoomJson>>, ApiError> {
    let mut rooms = vec![public_room(&state, &session).await?];
    let mut private = Vec::new();
    for (room, room_state) in state.rooms.rooms_of(session.user).await? {
        private.push(private_room(&state, &session, room, &room_state).await?);
    }
    // Groups before direct chats, each newest activity first.
    private.sort_by(|a, b| {
        (a.kind, b.last_message.as_ref().map(|m| m.sent_at.clone()))
            .cmp(&(b.kind, a.last_message.as_ref().map(|m| m.sent_at.clone())))
    });
    rooms.extend(private);
    Ok(Json(rooms))
}

/// GET /api/v1/rooms/{id}
pub async fn get(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<Json<RoomJson>, ApiError> {
    Ok(Json(room_json(&state, &session, parse_room(&id)?).await?))
}
