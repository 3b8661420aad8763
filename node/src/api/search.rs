//! `GET /api/v1/search?q=TEXT&room_id=ID`: messages the caller can read, best first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;

use super::auth::Auth;
use super::error::ApiError;
use super::rooms::{member_state, parse_room, viewer};
use super::types::MessageJson;
use crate::NodeState;
use crate::store::messages::MessageRow;
use chatly_protocol::RoomId;

/// Rows are folded a room (and viewer) at a time.
type RoomAndViewer = ([u8; 16], [u8; 32]);

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
    // Built in bulk: one read for the rows, then one fold of operations per room, instead of
    // two reads per hit.
    let wanted: Vec<([u8; 32], [u8; 32])> = hits
        .iter()
        .map(|hit| (viewer(RoomId(hit.room), &session), hit.id))
        .collect();
    let rows = state
        .store
        .read(move |c| {
            wanted
                .iter()
                .map(|(viewer, id)| crate::store::messages::get(c, viewer, id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut by_room: HashMap<RoomAndViewer, Vec<(usize, MessageRow)>> = HashMap::new();
    for (at, row) in rows.into_iter().enumerate() {
        if let Some(row) = row {
            by_room
                .entry((row.room, row.viewer))
                .or_default()
                .push((at, row));
        }
    }
    let mut found: Vec<Option<MessageJson>> = vec![None; hits.len()];
    for group in by_room.into_values() {
        let (places, rows): (Vec<usize>, Vec<MessageRow>) = group.into_iter().unzip();
        let jsons = super::message_ops::messages_json(&state, &session, &rows).await?;
        for (at, json) in places.into_iter().zip(jsons) {
            found[at] = Some(json);
        }
    }
    let messages: Vec<MessageJson> = found.into_iter().flatten().filter(|m| !m.deleted).collect();
    Ok(Json(json!({"messages": messages})))
}
