//! Messages as the API shows them (edits, deletions, reactions folded in; the author's delivery
//! state), and the routes that change a message: edit, delete, react.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use super::rooms::{message_json, parse_room, viewer};
use super::types::{MessageJson, delivery_json, rfc3339};
use crate::NodeState;
use crate::accounts::Session;
use crate::rooms::ops;
use crate::store::messages::{self, MessageRow};
use chatly_crypto::wrap;
use chatly_protocol::{AccountId, Content, EnvelopeId, MAX_EMOJI_LEN, MAX_TEXT_LEN, RoomId};

/// Messages as JSON for `session`, all of one room and viewer, with their operations folded in.
pub async fn messages_json(
    state: &NodeState,
    session: &Session,
    rows: &[MessageRow],
) -> Result<Vec<MessageJson>, ApiError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let (viewer, room) = (first.viewer, RoomId(first.room));
    let targets: Vec<[u8; 32]> = rows.iter().map(|r| r.id).collect();
    let own: Vec<[u8; 32]> = rows
        .iter()
        .filter(|r| r.author == session.user.0)
        .map(|r| r.id)
        .collect();
    // One read for everything the rows need besides themselves: their operations, the room's
    // admins (who may delete others' messages) and the delivery state of the caller's own.
    let states = state.rooms.states.clone();
    let (all_ops, admins, deliveries) = state
        .store
        .read(move |c| {
            let all_ops = crate::store::ops::for_targets(c, &viewer, &targets)?;
            let admins: BTreeSet<AccountId> = if room == RoomId::PUBLIC {
                BTreeSet::new()
            } else {
                states.load(c, room)?.admins.clone()
            };
            let mut deliveries = HashMap::new();
            for id in own {
                if let Some(delivery) = crate::store::sync::delivery(c, &id)? {
                    deliveries.insert(id, delivery);
                }
            }
            Ok((all_ops, admins, deliveries))
        })
        .await?;
    let master = session.keys.master.expose();
    let private = viewer != messages::PUBLIC_VIEWER;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut json = message_json(row, &session.keys);
        if let Some(row_ops) = all_ops.get(&row.id) {
            let folded = ops::fold(row.author, row_ops, &admins, |payload| {
                if private {
                    wrap::open(master, crate::rooms::groups::PRIVATE_CONTENT_LABEL, payload)
                        .ok()
                        .map(|p| p.to_vec())
                } else {
                    Some(payload.to_vec())
                }
            });
            apply(&mut json, folded);
        }
        if let Some(delivery) = deliveries.get(&row.id) {
            json.delivery = Some(delivery_json(state.rooms.with_sent(row.id, *delivery)));
        }
        out.push(json);
    }
    Ok(out)
}

fn apply(json: &mut MessageJson, folded: ops::Folded) {
    if folded.deleted {
        json.deleted = true;
        json.text = String::new();
        json.files = serde_json::Value::Array(Vec::new());
        json.reactions = serde_json::Value::Object(serde_json::Map::new());
        return;
    }
    if let Some((text, at)) = folded.edit {
        json.text = text;
        json.edited_at = Some(rfc3339(at));
    }
    json.reactions = serde_json::to_value(folded.reactions).unwrap_or_default();
}

/// One message as JSON for `session`.
pub async fn message_for(
    state: &NodeState,
    session: &Session,
    row: &MessageRow,
) -> Result<MessageJson, ApiError> {
    messages_json(state, session, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("no such message"))
}

/// A message the caller has just posted, as JSON, without a store read: nothing can refer to
/// it yet (no operations), and no peer has reported holding it, so its delivery is queued, or
/// sent once published. A reaction racing the 201 reaches the caller's sockets as an update.
pub fn posted_json(state: &NodeState, session: &Session, row: &MessageRow) -> MessageJson {
    let mut json = message_json(row, &session.keys);
    let delivery = state
        .rooms
        .with_sent(row.id, crate::store::sync::Delivery::Queued);
    json.delivery = Some(delivery_json(delivery));
    json
}

/// The message `mid` of room `id` as the caller sees it, and the room's admins.
async fn target(
    state: &NodeState,
    session: &Session,
    id: &str,
    mid: &str,
) -> Result<(RoomId, MessageRow, BTreeSet<AccountId>), ApiError> {
    let room = parse_room(id)?;
    let admins = if room == RoomId::PUBLIC {
        BTreeSet::new()
    } else {
        super::rooms::member_state(state, session, room)
            .await?
            .admins
            .clone()
    };
    let message = EnvelopeId::from_hex(mid).map_err(|_| ApiError::not_found("no such message"))?;
    let viewer = viewer(room, session);
    let row = state
        .store
        .read(move |c| messages::get(c, &viewer, &message.0))
        .await?
        .filter(|r| r.room == room.0)
        .ok_or_else(|| ApiError::not_found("no such message in this room"))?;
    Ok((room, row, admins))
}

/// Signs and publishes an operation on a message, in its room.
async fn send(
    state: &NodeState,
    session: &Session,
    room: RoomId,
    content: Content,
) -> Result<(), ApiError> {
    if room == RoomId::PUBLIC {
        state.rooms.post_public_op(&session.keys, content).await?;
    } else {
        state
            .rooms
            .post_private(&session.keys, room, content)
            .await?;
    }
    Ok(())
}

fn forbidden(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

#[derive(Debug, Deserialize)]
pub struct Edit {
    text: String,
}

/// PATCH /api/v1/rooms/{id}/messages/{mid} `{text}`: 200 `Message`; the author only.
pub async fn edit(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path((id, mid)): Path<(String, String)>,
    ApiJson(body): ApiJson<Edit>,
) -> Result<Json<MessageJson>, ApiError> {
    let (room, row, _) = target(&state, &session, &id, &mid).await?;
    if row.author != session.user.0 {
        return Err(forbidden(
            "not_author",
            "only its author can edit a message",
        ));
    }
    let current = message_for(&state, &session, &row).await?;
    if current.deleted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "deleted",
            "this message was deleted",
        ));
    }
    if body.text.len() > MAX_TEXT_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            "a message holds at most 16 KiB of text",
        ));
    }
    if body.text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_message",
            "an edit needs some text; delete the message instead",
        ));
    }
    let content = Content::Edit {
        target: EnvelopeId(row.id),
        text: body.text,
    };
    send(&state, &session, room, content).await?;
    Ok(Json(message_for(&state, &session, &row).await?))
}

/// DELETE /api/v1/rooms/{id}/messages/{mid}: 204; its author or a room admin.
pub async fn delete(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path((id, mid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (room, row, admins) = target(&state, &session, &id, &mid).await?;
    if row.author != session.user.0 && !admins.contains(&session.user) {
        return Err(forbidden(
            "not_allowed",
            "only its author or a room admin can delete a message",
        ));
    }
    if !message_for(&state, &session, &row).await?.deleted {
        let content = Content::Delete {
            target: EnvelopeId(row.id),
        };
        send(&state, &session, room, content).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct React {
    emoji: String,
}

/// POST /api/v1/rooms/{id}/messages/{mid}/reactions `{emoji}`: 200 `Message`; toggles.
pub async fn react(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path((id, mid)): Path<(String, String)>,
    ApiJson(body): ApiJson<React>,
) -> Result<Json<MessageJson>, ApiError> {
    let (room, row, _) = target(&state, &session, &id, &mid).await?;
    let emoji = body.emoji.trim().to_string();
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_LEN || emoji.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_emoji",
            "a reaction is one emoji",
        ));
    }
    if message_for(&state, &session, &row).await?.deleted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "deleted",
            "this message was deleted",
        ));
    }
    let content = Content::Reaction {
        target: EnvelopeId(row.id),
        emoji,
    };
    send(&state, &session, room, content).await?;
    Ok(Json(message_for(&state, &session, &row).await?))
}
