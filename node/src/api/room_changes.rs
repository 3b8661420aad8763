//! Creating and changing rooms: new group and direct rooms, renaming, members and admins.
//! A room the caller is not in answers 404; admin-only changes answer 403 `not_admin`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use super::rooms::{member_state, parse_room, room_json};
use super::types::RoomJson;
use crate::NodeState;
use crate::accounts::Session;
use crate::rooms::membership::RoomState;
use chatly_protocol::control::ControlOp;
use chatly_protocol::{AccountId, Content, RoomId};

fn parse_user(id: &str) -> Result<AccountId, ApiError> {
    AccountId::from_hex(id).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_user_id",
            "not a user id",
        )
    })
}

fn not_admin() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_admin",
        "only an admin of this room can do that",
    )
}

#[derive(Debug, Deserialize)]
pub struct NewRoom {
    kind: String,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    members: Vec<String>,
    user_id: Option<String>,
}

/// POST /api/v1/rooms
pub async fn create(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    ApiJson(body): ApiJson<NewRoom>,
) -> Result<Response, ApiError> {
    match body.kind.as_str() {
        "group" => create_group(&state, &session, body).await,
        "direct" => create_direct(&state, &session, body).await,
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_kind",
            "kind is \"group\" or \"direct\"",
        )),
    }
}

async fn known_user(state: &NodeState, id: &str) -> Result<AccountId, ApiError> {
    let user = parse_user(id)?;
    match state.rooms.user(user).await? {
        Some(_) => Ok(user),
        None => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_user",
            "nobody with that id is known to this node",
        )),
    }
}

async fn create_group(
    state: &NodeState,
    session: &Session,
    body: NewRoom,
) -> Result<Response, ApiError> {
    let name = body.name.unwrap_or_default().trim().to_string();
    let description = body.description.unwrap_or_default();
    let info = Content::RoomInfo {
        name: name.clone(),
        description,
    };
    info.encode().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_name",
            "a group needs a name of 1 to 64 characters (description up to 500)",
        )
    })?;
    let mut members = Vec::new();
    for id in &body.members {
        let member = known_user(state, id).await?;
        if member != session.user && !members.contains(&member) {
            members.push(member);
        }
    }
    if members.len() + 1 > chatly_protocol::control::MAX_ROOM_MEMBERS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_members",
            "a room holds at most 256 members",
        ));
    }
    let room = RoomId(chatly_crypto::random_bytes());
    let keys = &session.keys;
    state
        .rooms
        .control(keys, room, ControlOp::Create { members })
        .await?;
    state.rooms.post_private(keys, room, info).await?;
    let json = room_json(state, session, room).await?;
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn create_direct(
    state: &NodeState,
    session: &Session,
    body: NewRoom,
) -> Result<Response, ApiError> {
    let peer = known_user(state, body.user_id.as_deref().unwrap_or("")).await?;
    if peer == session.user {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "self_direct",
            "a direct chat needs someone else",
        ));
    }
    let room = RoomId::direct(&session.user, &peer);
    let existing = state.rooms.room_state(room).await?;
    if existing.is_member(&session.user) {
        return Ok((StatusCode::OK, Json(room_json(state, session, room).await?)).into_response());
    }
    state
        .rooms
        .control(&session.keys, room, ControlOp::CreateDirect { peer })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(room_json(state, session, room).await?),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct RoomPatch {
    name: Option<String>,
    description: Option<String>,
}

/// PATCH /api/v1/rooms/{id}
pub async fn update(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<RoomPatch>,
) -> Result<Json<RoomJson>, ApiError> {
    let room = parse_room(&id)?;
    if room == RoomId::PUBLIC {
        return Err(not_admin());
    }
    let room_state = member_state(&state, &session, room).await?;
    if !room_state.is_admin(&session.user) {
        return Err(not_admin());
    }
    let (name, description) = state
        .rooms
        .room_info(&session.keys, room)
        .await?
        .unwrap_or_default();
    let info = Content::RoomInfo {
        name: patch.name.map(|n| n.trim().to_string()).unwrap_or(name),
        description: patch.description.unwrap_or(description),
    };
    info.encode().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_name",
            "a name is 1 to 64 characters, a description up to 500",
        )
    })?;
    state
        .rooms
        .post_private_in(&session.keys, room, &room_state, info)
        .await?;
    Ok(Json(room_json(&state, &session, room).await?))
}

#[derive(Debug, Deserialize)]
pub struct UserRef {
    user_id: String,
}

/// POST /api/v1/rooms/{id}/members
pub async fn add_member(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserRef>,
) -> Result<Json<RoomJson>, ApiError> {
    admin_op(
        &state,
        &session,
        &id,
        |member, _| ControlOp::Add { member },
        &body.user_id,
    )
    .await
}

/// POST /api/v1/rooms/{id}/admins
pub async fn add_admin(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserRef>,
) -> Result<Json<RoomJson>, ApiError> {
    admin_op(
        &state,
        &session,
        &id,
        |member, _| ControlOp::SetRole {
            member,
            admin: true,
        },
        &body.user_id,
    )
    .await
}

/// DELETE /api/v1/rooms/{id}/members/{user_id}: an admin removes someone (200), or a member leaves (204).
pub async fn remove_member(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let target = parse_user(&user)?;
    if target == session.user {
        let room = parse_room(&id)?;
        member_state(&state, &session, room).await?;
        state
            .rooms
            .control(&session.keys, room, ControlOp::Leave)
            .await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let room = parse_room(&id)?;
    let last_seq = state
        .store
        .read(move |c| crate::store::envelopes::head(c, &room.0, &target.0))
        .await?
        .map_or(0, |(seq, _)| seq);
    let json = admin_op(
        &state,
        &session,
        &id,
        |member, _| ControlOp::Remove { member, last_seq },
        &user,
    )
    .await?;
    Ok(json.into_response())
}

async fn admin_op(
    state: &NodeState,
    session: &Session,
    id: &str,
    op: impl FnOnce(AccountId, &RoomState) -> ControlOp,
    user: &str,
) -> Result<Json<RoomJson>, ApiError> {
    let room = parse_room(id)?;
    if room == RoomId::PUBLIC {
        return Err(not_admin());
    }
    let room_state = member_state(state, session, room).await?;
    if !room_state.is_admin(&session.user) {
        return Err(not_admin());
    }
    let target = known_user(state, user).await?;
    let op = op(target, &room_state);
    room_state
        .check(&session.user, &op)
        .map_err(|why| ApiError::new(StatusCode::CONFLICT, "invalid_change", why))?;
    state.rooms.control(&session.keys, room, op).await?;
    Ok(Json(room_json(state, session, room).await?))
}
