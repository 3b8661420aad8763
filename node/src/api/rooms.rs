//! Rooms and messages. This build hosts the public room; group and direct rooms answer 501
//! until end-to-end encrypted rooms land (issue 3).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use super::types::{MessageJson, RoomJson};
use crate::NodeState;
use crate::store::messages;
use chatly_protocol::{Content, EnvelopeId, MAX_TEXT_LEN, RoomId};

/// Default and largest page of history.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;

/// The rooms an account may open: the public room only, for now.
fn readable_room(id: &str) -> Result<RoomId, ApiError> {
    match RoomId::from_api(id) {
        Ok(room) if room == RoomId::PUBLIC => Ok(room),
        _ => Err(ApiError::not_found("no such room")),
    }
}

async fn public_room(state: &NodeState) -> Result<RoomJson, ApiError> {
    let (members, last) = state
        .store
        .read(|c| {
            let members = crate::store::users::all(c)?
                .iter()
                .map(|u| hex::encode(u.user_id))
                .collect::<Vec<_>>();
            Ok((members, messages::last(c, &RoomId::PUBLIC.0)?))
        })
        .await?;
    Ok(RoomJson {
        id: RoomId::PUBLIC.to_api(),
        kind: "public",
        name: "Public".into(),
        description: "Everyone on the mesh".into(),
        members,
        admins: Vec::new(),
        unread: 0,
        last_message: last.as_ref().map(MessageJson::from),
        encrypted: false,
    })
}

/// GET /api/v1/rooms
pub async fn list(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
) -> Result<Json<Vec<RoomJson>>, ApiError> {
    Ok(Json(vec![public_room(&state).await?]))
}

/// GET /api/v1/rooms/{id}
pub async fn get(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RoomJson>, ApiError> {
    readable_room(&id)?;
    Ok(Json(public_room(&state).await?))
}

/// POST /api/v1/rooms (group and direct rooms come with end-to-end encryption)
pub async fn create(_auth: Auth) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "group and direct rooms are not available on this node yet",
    )
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// GET /api/v1/rooms/{id}/messages?before=ID&after=ID&limit=N
pub async fn messages(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let room = readable_room(&id)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let parse = |s: &str| {
        EnvelopeId::from_hex(s)
            .map_err(|_| ApiError::bad_request("bad_message_id", "not a message id"))
    };
    let before = query.before.as_deref().map(parse).transpose()?;
    let after = query.after.as_deref().map(parse).transpose()?;
    let page = state
        .store
        .read(move |c| match after {
            Some(after) => messages::page_after(c, &room.0, &after.0, limit),
            None => messages::page_before(c, &room.0, before.as_ref().map(|b| &b.0), limit),
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no such message in this room"))?;
    let list: Vec<MessageJson> = page.messages.iter().map(MessageJson::from).collect();
    Ok(Json(json!({"messages": list, "has_more": page.has_more})))
}

#[derive(Debug, Deserialize)]
pub struct NewMessage {
    text: String,
    #[serde(default)]
    files: Vec<String>,
    reply_to: Option<String>,
}

/// POST /api/v1/rooms/{id}/messages
pub async fn post(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<MessageJson>), ApiError> {
    readable_room(&id)?;
    if body.text.len() > MAX_TEXT_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            "a message holds at most 16 KiB of text; send longer text as a file",
        ));
    }
    if body.text.trim().is_empty() && body.files.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_message",
            "write something first",
        ));
    }
    if !body.files.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "file sharing is not available on this node yet",
        ));
    }
    let reply_to = body
        .reply_to
        .as_deref()
        .map(|r| {
            EnvelopeId::from_hex(r).map_err(|_| {
                ApiError::bad_request("bad_message_id", "reply_to is not a message id")
            })
        })
        .transpose()?;
    let content = Content::Message {
        text: body.text,
        files: Vec::new(),
        reply_to,
    };
    let row = state.rooms.post_public(&session.keys, content).await?;
    Ok((StatusCode::CREATED, Json(MessageJson::from(&row))))
}
