//! The responder side of sync: who may have what, and the answers.
//!
//! The public room and the directory are served to every Chatly node. A group or direct room is
//! served to a node that hosts one of its current members (by the home node in the members'
//! account records); a node hosting only former members gets the room's control log and nothing
//! else, which is how a member removed while offline learns of its removal.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatly_protocol::sync::{
    AuthorRanges, MAX_HEAD_AUTHORS, MAX_HEADS_BYTES, MAX_PAGE_BYTES, Request, Response, RoomHeads,
    RoomStatus, SeqRange, heads_entry_len,
};
use chatly_protocol::{AccountId, RoomId};
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use rusqlite::{Connection, params};

use super::digest;
use crate::net::Service;
use crate::rooms::Rooms;
use crate::rooms::states::RoomStates;
use crate::store::{StoreError, blob, sync as rows};

/// A peer whose summary differs from ours is asked for its heads in turn, at most this often.
const PULL_BACK_EVERY: Duration = Duration::from_secs(10);

/// What a peer may be sent of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Everything.
    Full,
    /// The control log only.
    ControlsOnly,
    /// Nothing.
    None,
}

/// The accounts a peer hosts, from the home node in their account records.
fn hosted_by(conn: &Connection, peer: &PeerId) -> Result<Vec<AccountId>, StoreError> {
    let Some(key) = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest())
        .ok()
        .and_then(|k| k.try_into_ed25519().ok())
    else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached("SELECT user_id FROM users WHERE node_public = ?1")?;
    let rows = stmt.query_map([key.to_bytes()], |r| Ok(AccountId(blob(r, 0)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn access(
    conn: &Connection,
    states: &RoomStates,
    hosted: &[AccountId],
    room: RoomId,
) -> Result<Access, StoreError> {
    if room == RoomId::PUBLIC || room == RoomId::DIRECTORY {
        return Ok(Access::Full);
    }
    if hosted.is_empty() {
        return Ok(Access::None);
    }
    let state = states.load(conn, room)?;
    Ok(if hosted.iter().any(|a| state.is_member(a)) {
        Access::Full
    } else if hosted.iter().any(|a| state.departed.contains_key(a)) {
        Access::ControlsOnly
    } else {
        Access::None
    })
}

/// The sequence numbers of a room's control operations, as ranges per author. (`kind BETWEEN 3
/// AND 5` is the condition of the partial index it reads: see `store::private`.)
fn control_heads(conn: &Connection, room: &RoomId) -> Result<Vec<AuthorRanges>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, seq FROM envelopes INDEXED BY envelopes_kind_room
           WHERE room = ?1 AND kind = 3 AND kind BETWEEN 3 AND 5 ORDER BY author, seq",
    )?;
    let rows = stmt.query_map(params![room.0], |r| {
        Ok((AccountId(blob(r, 0)?), r.get::<_, i64>(1)? as u64))
    })?;
    let mut heads: Vec<AuthorRanges> = Vec::new();
    for row in rows {
        let (author, seq) = row?;
        match heads.last_mut() {
            Some(last) if last.author == author => {
                let full = last.ranges.len() >= chatly_protocol::sync::MAX_RANGES_PER_AUTHOR;
                match last.ranges.last_mut() {
                    Some(run) if run.hi + 1 == seq => run.hi = seq,
                    _ if !full => last.ranges.push(SeqRange { lo: seq, hi: seq }),
                    _ => {}
                }
            }
            _ => heads.push(AuthorRanges {
                author,
                ranges: vec![SeqRange { lo: seq, hi: seq }],
            }),
        }
    }
    Ok(heads)
}

/// The heads answer: every room named or held, with what this peer may see of it. Returns the
/// answer and whether some shared room differs (the peer may hold what we lack).
fn heads_for(
    conn: &Connection,
    states: &RoomStates,
    peer: &PeerId,
    digests: &HashMap<RoomId, [u8; 16]>,
) -> Result<(Vec<RoomHeads>, bool), StoreError> {
    let hosted = hosted_by(conn, peer)?;
    let held: BTreeSet<RoomId> = rows::rooms(conn)?.into_iter().collect();
    let mut rooms: Vec<RoomId> = held.iter().chain(digests.keys()).copied().collect();
    rooms.sort_by_key(|r| (*r != RoomId::DIRECTORY, *r != RoomId::PUBLIC, r.0));
    rooms.dedup();
    let mut answer = Vec::new();
    let mut authors = 0usize;
    let mut bytes = 5usize;
    let mut differs = false;
    for room in rooms {
        let named = digests.get(&room);
        let access = if held.contains(&room) {
            access(conn, states, &hosted, room)?
        } else {
            Access::None
        };
        let status = match access {
            Access::None if named.is_none() => continue,
            Access::None => RoomStatus::Unserved,
            Access::ControlsOnly => RoomStatus::Differs(control_heads(conn, &room)?),
            Access::Full => {
                let heads = rows::room_heads(conn, &room)?;
                if named == Some(&digest(&heads)) {
                    RoomStatus::Same
                } else {
                    differs |= named.is_some();
                    RoomStatus::Differs(heads)
                }
            }
        };
        let len = match &status {
            RoomStatus::Differs(heads) => heads_entry_len(heads),
            _ => 17,
        };
        if let RoomStatus::Differs(heads) = &status {
            if authors + heads.len() > MAX_HEAD_AUTHORS || bytes + len > MAX_HEADS_BYTES {
                continue; // left for a later round; the rest of the answer still helps
            }
            authors += heads.len();
        }
        bytes += len;
        answer.push(RoomHeads { room, status });
    }
    Ok((answer, differs))
}

impl Rooms {
    /// Answers a peer's sync request. A malformed request gets no answer.
    pub async fn serve_sync(
        self: &Arc<Self>,
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let request = match Request::decode(&data) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "malformed sync request");
                return; // dropping the channel tells the peer no
            }
        };
        let answer = match request {
            Request::Summary(digests) => {
                let digests: HashMap<RoomId, [u8; 16]> =
                    digests.into_iter().map(|d| (d.room, d.digest)).collect();
                let states = self.states.clone();
                let answer = self
                    .store
                    .read(move |c| heads_for(c, &states, &peer, &digests))
                    .await;
                if let Ok((_, true)) = &answer {
                    self.pull_back(peer);
                }
                answer.map(|(rooms, _)| Response::Heads(rooms))
            }
            Request::Fetch { max_bytes, wants } => {
                let budget = (max_bytes as usize).min(MAX_PAGE_BYTES);
                let states = self.states.clone();
                self.store
                    .read(move |c| {
                        let hosted = hosted_by(c, &peer)?;
                        let mut rooms: HashMap<RoomId, Access> = HashMap::new();
                        let mut served = Vec::with_capacity(wants.len());
                        for want in wants {
                            let access = match rooms.get(&want.room) {
                                Some(access) => *access,
                                None => {
                                    let access = access(c, &states, &hosted, want.room)?;
                                    rooms.insert(want.room, access);
                                    access
                                }
                            };
                            match access {
                                Access::Full => served.push((want, false)),
                                Access::ControlsOnly => served.push((want, true)),
                                Access::None => {}
                            }
                        }
                        let (envelopes, more) = rows::page(c, &served, budget)?;
                        Ok(Response::Page { more, envelopes })
                    })
                    .await
            }
        };
        match answer.map(|a| a.encode()) {
            Ok(Ok(bytes)) => self.net.respond(Service::Sync, channel, bytes),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not encode a sync answer"),
            Err(e) => tracing::warn!(error = %e, "could not read a sync answer"),
        }
    }

    /// A peer's summary differs from ours in a room we share: it may hold what we lack, so ask it
    /// in turn (at most every [`PULL_BACK_EVERY`] per peer, so two nodes that keep differing in
    /// something neither can fix do not ping-pong).
    fn pull_back(self: &Arc<Self>, peer: PeerId) {
        let now = Instant::now();
        {
            let mut last = self
                .flights
                .pulled_back
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last
                .get(&peer)
                .is_some_and(|at| now.duration_since(*at) < PULL_BACK_EVERY)
            {
                return;
            }
            last.retain(|_, at| now.duration_since(*at) < PULL_BACK_EVERY);
            last.insert(peer, now);
        }
        self.request_sync(peer, "summary differs");
    }
}
