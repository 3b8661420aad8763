//! Typing notices and read receipts: `POST /rooms/{id}/typing` and `POST /rooms/{id}/read`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use super::rooms::{member_state, parse_room};
use crate::NodeState;
use chatly_protocol::{EnvelopeId, RoomId};

/// POST /api/v1/rooms/{id}/typing: 204; repeated calls within 3 s send one notice.
pub async fn typing(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let room = parse_room(&id)?;
    if room != RoomId::PUBLIC {
        member_state(&state, &session, room).await?;
    }
    state.signals.typing(&session.keys, room).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct Read {
    message_id: String,
}

/// POST /api/v1/rooms/{id}/read `{message_id}`: 204; the mark only moves forward.
pub async fn read(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Read>,
) -> Result<StatusCode, ApiError> {
    let room = parse_room(&id)?;
    if room != RoomId::PUBLIC {
        member_state(&state, &session, room).await?;
    }
    let message = EnvelopeId::from_hex(&body.message_id)
        .map_err(|_| ApiError::bad_request("bad_message_id", "not a message id"))?;
    if !state.signals.read(&session.keys, room, message).await? {
        return Err(ApiError::not_found("no such message in this room"));
    }
    Ok(StatusCode::NO_CONTENT)
}
