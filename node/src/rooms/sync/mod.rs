//! History sync: catch up what gossip missed (docs/protocol.md, "Sync").
//!
//! A round with a peer ([`Rooms::sync_with`]): send a digest per room we hold, get back the peer's
//! sequence ranges for the rooms that differ (and for rooms it serves us that we did not name),
//! then fetch what we lack, oldest first, page by page, through the same pipeline as gossip. The
//! peer's ranges also tell us how far it holds our own accounts' envelopes: the outbox's
//! acknowledgement ([`super::outbox`]).
//!
//! - [`serve`]: the responder, which serves a room only to nodes hosting its members.
//! - Triggers: every new connection, a gap seen in gossip, a login, a peer whose summary differs
//!   from ours, the outbox, and a periodic round ([`run_periodic`]). [`Rooms::request_sync`] keeps
//!   one round per peer in flight and folds triggers that arrive meanwhile into one more round.

mod serve;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chatly_protocol::labels::LABEL_SYNC_DIGEST;
use chatly_protocol::sync::{
    AuthorRanges, MAX_PAGE_BYTES, MAX_WANTS, Request, Response, RoomDigest, RoomStatus, Want,
    canonical_heads, missing, subtract,
};
use chatly_protocol::{AccountId, RoomId};
use libp2p::PeerId;

use super::Rooms;
use super::pipeline::{self, Applied};
use crate::store::{StoreError, accounts, now_ms, sync as rows};

/// Most pages fetched in one round (bounds a round against a peer that always says "more").
const MAX_PAGES_PER_ROUND: usize = 10_000;

/// How often a node runs a sync round with its peers, besides the triggered rounds.
pub const PERIODIC_SYNC: std::time::Duration = std::time::Duration::from_secs(30);

/// Most peers synced with in one periodic round.
const PEERS_PER_ROUND: usize = 3;

/// What one round achieved.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundStats {
    /// Pages received.
    pub pages: usize,
    /// New envelopes stored.
    pub stored: usize,
    /// Envelopes that failed validation.
    pub rejected: usize,
    /// Bytes of envelopes received.
    pub bytes: usize,
}

/// Why a round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request failed (peer gone, timeout, refused).
    #[error("request failed: {0}")]
    Net(#[from] crate::net::NetError),
    /// The peer answered something we cannot decode or did not ask for.
    #[error("malformed answer from {peer}: {reason}")]
    Malformed {
        /// Who.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
}

/// Rounds in flight, per peer: `true` when another round was asked for meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    running: std::sync::Mutex<HashMap<PeerId, bool>>,
    /// When each peer was last asked back because its summary differed (see `serve`).
    pulled_back: std::sync::Mutex<HashMap<PeerId, Instant>>,
}

/// The digest of a room's heads, as sent in a summary.
pub fn digest(heads: &[AuthorRanges]) -> [u8; 16] {
    let full = chatly_crypto::derive_key(LABEL_SYNC_DIGEST, &canonical_heads(heads));
    full[..16].try_into().expect("16 of 32 bytes")
}

/// What we hold, per room, with the digests to send.
fn our_heads(
    conn: &rusqlite::Connection,
) -> Result<HashMap<RoomId, Vec<AuthorRanges>>, StoreError> {
    let mut ours = HashMap::new();
    for room in rows::rooms(conn)? {
        ours.insert(room, rows::room_heads(conn, &room)?);
    }
    Ok(ours)
}

/// Directory first (account records before their authors' messages), then the public room, then
/// the rest: the order wants are asked in.
fn want_order(want: &Want) -> u8 {
    match want.room {
        RoomId::DIRECTORY => 0,
        RoomId::PUBLIC => 1,
        _ => 2,
    }
}

impl Rooms {
    /// Starts a round with `peer` unless one is running; then that one goes again when done.
    pub fn request_sync(self: &Arc<Self>, peer: PeerId, reason: &'static str) {
        {
            let mut running = self
                .flights
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(again) = running.get_mut(&peer) {
                *again = true;
                return;
            }
            running.insert(peer, false);
        }
        let rooms = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = rooms.sync_with(peer).await {
                    rooms.metrics.sync_failures.inc();
                    match e {
                        SyncError::Malformed { .. } => {
                            tracing::warn!(%peer, reason, error = %e, "sync round failed")
                        }
                        _ => tracing::debug!(%peer, reason, error = %e, "sync round failed"),
                    }
                }
                let mut running = rooms
                    .flights
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if running.get(&peer) == Some(&true) {
                    running.insert(peer, false);
                    continue;
                }
                running.remove(&peer);
                return;
            }
        });
    }

    /// Starts a round with every connected peer.
    pub async fn sync_all(self: &Arc<Self>, reason: &'static str) {
        if let Ok(peers) = self.net.peers().await {
            for peer in peers {
                if let Ok(peer) = peer.peer_id.parse::<PeerId>() {
                    self.request_sync(peer, reason);
                }
            }
        }
    }

    /// Runs one round with `peer`: summary, then fetch what we lack.
    pub async fn sync_with(&self, peer: PeerId) -> Result<RoundStats, SyncError> {
        let started = Instant::now();
        let (ours, local) = self
            .store
            .read(|c| Ok((our_heads(c)?, accounts::account_ids(c)?)))
            .await?;
        let local: HashSet<AccountId> = local.into_iter().map(AccountId).collect();
        let summary = ours
            .iter()
            .map(|(room, heads)| RoomDigest {
                room: *room,
                digest: digest(heads),
            })
            .collect();
        let answer = self.ask(peer, Request::Summary(summary)).await?;
        let Response::Heads(rooms) = answer else {
            return Err(malformed(peer, "a page where heads were expected"));
        };
        let mut wants = Vec::new();
        let mut holds = Vec::new();
        for room in rooms {
            let theirs = match room.status {
                RoomStatus::Unserved => continue,
                RoomStatus::Same => match ours.get(&room.room) {
                    Some(heads) => heads.clone(),
                    None => continue,
                },
                RoomStatus::Differs(theirs) => {
                    let empty = Vec::new();
                    let held = ours.get(&room.room).unwrap_or(&empty);
                    wants.extend(missing(room.room, held, &theirs, MAX_WANTS));
                    theirs
                }
            };
            let ours_in_room = ours.get(&room.room).map(Vec::as_slice).unwrap_or_default();
            for author in theirs.iter().filter(|a| local.contains(&a.author)) {
                let mine = ours_in_room
                    .iter()
                    .find(|a| a.author == author.author)
                    .map_or(&[][..], |a| a.ranges.as_slice());
                let through = chatly_protocol::sync::held_through(mine, &author.ranges);
                holds.push((room.room, author.author, through));
            }
        }
        self.record_holds(peer, holds).await?;
        wants.sort_by_key(want_order);
        let stats = self.fetch(peer, wants).await?;
        self.metrics.sync_rounds.inc();
        if stats.stored > 0 {
            self.metrics
                .sync_catchup_seconds
                .observe(started.elapsed().as_secs_f64());
            tracing::info!(%peer, stored = stats.stored, pages = stats.pages, "caught up");
        }
        Ok(stats)
    }

    /// Fetches `wants` page by page while pages bring something new.
    async fn fetch(&self, peer: PeerId, mut wants: Vec<Want>) -> Result<RoundStats, SyncError> {
        let mut stats = RoundStats::default();
        while !wants.is_empty() && stats.pages < MAX_PAGES_PER_ROUND {
            let asked: Vec<Want> = wants.iter().take(MAX_WANTS).copied().collect();
            let answer = self
                .ask(
                    peer,
                    Request::Fetch {
                        max_bytes: MAX_PAGE_BYTES as u32,
                        wants: asked,
                    },
                )
                .await?;
            let Response::Page { envelopes, .. } = answer else {
                return Err(malformed(peer, "heads where a page was expected"));
            };
            stats.pages += 1;
            let page_bytes = envelopes.iter().map(Vec::len).sum::<usize>();
            stats.bytes += page_bytes;
            let (stored, rejected) = self.ingest_page(envelopes).await?;
            stats.stored += stored;
            stats.rejected += rejected;
            self.metrics.sync_envelopes.inc_by(stored as u64);
            self.metrics.sync_bytes.inc_by(page_bytes as u64);
            if rejected > 0 {
                // What was valid is kept; a peer that sends forgeries is not asked further.
                return Err(malformed(
                    peer,
                    &format!("{rejected} invalid envelopes in a page"),
                ));
            }
            if stored == 0 {
                break;
            }
            wants = self.still_missing(wants).await?;
        }
        Ok(stats)
    }

    /// The parts of `wants` we still lack.
    async fn still_missing(&self, wants: Vec<Want>) -> Result<Vec<Want>, StoreError> {
        self.store
            .read(move |c| {
                let mut heads: HashMap<RoomId, Vec<AuthorRanges>> = HashMap::new();
                let mut left = Vec::new();
                for want in wants {
                    let room_heads = match heads.entry(want.room) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(rows::room_heads(c, &want.room)?)
                        }
                    };
                    let held = room_heads
                        .iter()
                        .find(|a| a.author == want.author)
                        .map_or(&[][..], |a| &a.ranges);
                    left.extend(
                        subtract(&[want.range], held)
                            .into_iter()
                            .map(|range| Want { range, ..want }),
                    );
                }
                Ok(left)
            })
            .await
    }

    async fn ask(&self, peer: PeerId, request: Request) -> Result<Response, SyncError> {
        let bytes = request
            .encode()
            .map_err(|e| malformed(peer, &format!("our own request: {e}")))?;
        let answer = self
            .net
            .request(crate::net::Service::Sync, peer, bytes)
            .await?;
        Response::decode(&answer).map_err(|e| malformed(peer, &e.to_string()))
    }

    /// Validates and stores one page; returns (stored, invalid).
    async fn ingest_page(&self, page: Vec<Vec<u8>>) -> Result<(usize, usize), StoreError> {
        let now = now_ms();
        let page = self.store.read(move |c| not_held(c, page)).await?;
        let checked = check_in_parallel(page, now).await;
        let rejected = checked
            .iter()
            .filter(|c| matches!(c, Err(super::Rejection::Invalid(_))))
            .count();
        let valid: Vec<_> = checked.into_iter().filter_map(Result::ok).collect();
        let applied = self.store_checked(valid, now).await?;
        let stored = applied
            .iter()
            .filter(|a| matches!(a, Applied::Stored(_)))
            .count();
        Ok((stored, rejected))
    }
}

/// The envelopes of a page not already held. An id is the hash of all of an envelope's bytes, its
/// signature included, so a held id means these very bytes were verified and stored before: what
/// gossip delivered while the page was on its way costs a lookup, not a signature check.
fn not_held(conn: &rusqlite::Connection, page: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut left = Vec::with_capacity(page.len());
    for bytes in page {
        if !crate::store::envelopes::contains(conn, &chatly_crypto::envelope_id(&bytes))? {
            left.push(bytes);
        }
    }
    Ok(left)
}

/// Checks a page's envelopes (signature verification is the cost) on every core, in order, each
/// core's share in one signature batch.
pub(crate) async fn check_in_parallel(
    page: Vec<Vec<u8>>,
    now: u64,
) -> Vec<Result<pipeline::Checked, super::Rejection>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let per_task = page.len().div_ceil(cores).max(64);
    let mut tasks = Vec::new();
    let mut rest = page;
    while !rest.is_empty() {
        let tail = rest.split_off(per_task.min(rest.len()));
        let chunk = std::mem::replace(&mut rest, tail);
        tasks.push(tokio::task::spawn_blocking(move || {
            pipeline::check_many(chunk, now, None)
        }));
    }
    let mut checked = Vec::new();
    for task in tasks {
        checked.extend(task.await.unwrap_or_default());
    }
    checked
}

fn malformed(peer: PeerId, reason: &str) -> SyncError {
    SyncError::Malformed {
        peer,
        reason: reason.to_string(),
    }
}

/// Runs a sync round with a few connected peers every [`PERIODIC_SYNC`], and with all of them when
/// an account logs in, until the token fires.
pub async fn run_periodic(rooms: Arc<Rooms>, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(PERIODIC_SYNC);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = rooms.vault.logins.notified() => {
                rooms.sync_all("login").await;
                continue;
            }
            _ = shutdown.cancelled() => return,
        }
        let Ok(peers) = rooms.net.peers().await else {
            return;
        };
        // Rotate through peers so every one is asked now and then.
        let offset = (now_ms() / PERIODIC_SYNC.as_millis() as u64) as usize;
        let count = peers.len();
        for i in 0..count.min(PEERS_PER_ROUND) {
            if let Ok(peer) = peers[(offset + i) % count].peer_id.parse::<PeerId>() {
                rooms.request_sync(peer, "periodic");
            }
        }
    }
}
