//! Messages of a room: history pages and posting (public, group and direct rooms alike).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use super::message_ops::{messages_json, posted_json};
use super::rooms::{member_state, parse_room, viewer};
use super::types::MessageJson;
use crate::NodeState;
use crate::store::messages;
use chatly_protocol::{Content, EnvelopeId, MAX_FILES_PER_MESSAGE, MAX_TEXT_LEN, RoomId};

/// Default and largest page of history.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// GET /api/v1/rooms/{id}/messages?before=ID&after=ID&limit=N
pub async fn list(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let room = parse_room(&id)?;
    if room != RoomId::PUBLIC {
        member_state(&state, &session, room).await?;
    }
    let viewer = viewer(room, &session);
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
            Some(after) => messages::page_after(c, &viewer, &room.0, &after.0, limit),
            None => {
                messages::page_before(c, &viewer, &room.0, before.as_ref().map(|b| &b.0), limit)
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no such message in this room"))?;
    let list = messages_json(&state, &session, &page.messages).await?;
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
    let room = parse_room(&id)?;
    // Read once: the post below seals with the same state.
    let room_state = if room == RoomId::PUBLIC {
        None
    } else {
        Some(state.rooms.room_state(room).await?)
    };
    if room_state
        .as_ref()
        .is_some_and(|s| !s.is_member(&session.user))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_member",
            "you are not a member of this room",
        ));
    }
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
    if body.files.len() > MAX_FILES_PER_MESSAGE {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_files",
            "a message carries at most 10 files",
        ));
    }
    let files = super::files::refs_for(&state, &session, &body.files).await?;
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
        files,
        reply_to,
    };
    let row = match &room_state {
        None => state.rooms.post_public(&session.keys, content).await?,
        Some(room_state) => {
            state
                .rooms
                .post_private_in(&session.keys, room, room_state, content)
                .await?
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(posted_json(&state, &session, &row)),
    ))
}
