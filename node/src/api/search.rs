//! `GET /api/v1/search?q=TEXT&room_id=ID`: messages the caller can read, best first.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;

use super::auth::Auth;
use super::error::ApiError;
use super::rooms::{member_state, parse_room, viewer};
use crate::NodeState;
use chatly_protocol::RoomId;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    room_id: Option<String>,
}

/// GET /api/v1/search: `{messages}` best first (at most 50), each word matched as a prefix;
/// deleted messages and rooms the caller is no longer in are left out.
pub async fn search(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Query(query): Query<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let only = match query.room_id.as_deref().filter(|r| !r.is_empty()) {
        Some(id) => {
            let room = parse_room(id)?;
            if room != RoomId::PUBLIC {
                member_state(&state, &session, room).await?;
            }
            Some(room)
        }
        None => None,
    };
    let mut rooms: HashSet<RoomId> = state
        .rooms
        .rooms_of(session.user)
        .await?
        .into_iter()
        .map(|(room, _)| room)
        .collect();
    rooms.insert(RoomId::PUBLIC);
    let text = query.q.unwrap_or_default();
    let hits = state
        .search
        .search(session.keys.clone(), rooms, only, &text)
        .await?;
    let mut messages = Vec::with_capacity(hits.len());
    for hit in hits {
        let room = RoomId(hit.room);
        let viewer = viewer(room, &session);
        let row = state
            .store
            .read(move |c| crate::store::messages::get(c, &viewer, &hit.id))
            .await?;
        if let Some(row) = row {
            let message = super::message_ops::message_for(&state, &session, &row).await?;
            if !message.deleted {
                messages.push(message);
            }
        }
    }
    Ok(Json(json!({"messages": messages})))
}
