//! History sync: catch up what gossip missed (docs/protocol.md, "Sync").
//!
//! A round with a peer: send what we hold (per room and author, the highest sequence number held
//! without a gap), receive a page of what we lack, run every envelope through the same pipeline as
//! gossip, store the page in one transaction, and ask again while the peer says there is more and
//! the page brought something new. The responder is trusted for availability only: a forged or
//! garbled page is rejected envelope by envelope, and the round ends.

use std::collections::HashMap;

use chatly_protocol::sync::{FetchRequest, Have, MAX_PAGE_BYTES, MAX_PAGE_ENVELOPES, Page};
use chatly_protocol::{AccountId, RoomId};
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;

use super::Rooms;
use super::pipeline::{self, Applied};
use crate::store::{envelopes, now_ms};

/// Most pages fetched in one round (bounds a round against a peer that always says "more").
const MAX_PAGES_PER_ROUND: usize = 10_000;

/// What one round achieved.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundStats {
    /// Pages received.
    pub pages: usize,
    /// New envelopes stored.
    pub stored: usize,
    /// Envelopes that failed validation.
    pub rejected: usize,
}

impl Rooms {
    /// Catches up from `peer`; returns what it did.
    pub async fn sync_with(&self, peer: PeerId) -> Result<RoundStats, String> {
        let mut stats = RoundStats::default();
        while stats.pages < MAX_PAGES_PER_ROUND {
            let heads = self
                .store
                .read(envelopes::contiguous_heads)
                .await
                .map_err(|e| e.to_string())?;
            let have = heads
                .into_iter()
                .map(|(room, author, seq)| Have {
                    room: RoomId(room),
                    author: AccountId(author),
                    seq,
                })
                .collect();
            let request = FetchRequest {
                max_bytes: MAX_PAGE_BYTES as u32,
                have,
            }
            .encode()
            .map_err(|e| e.to_string())?;
            let answer = self
                .net
                .request(peer, request)
                .await
                .map_err(|e| e.to_string())?;
            let page = Page::decode(&answer)
                .map_err(|e| format!("malformed sync page from {peer}: {e}"))?;
            stats.pages += 1;
            let (stored, rejected) = self.ingest_page(page.envelopes).await?;
            stats.stored += stored;
            stats.rejected += rejected;
            if !page.more || stored == 0 || rejected > 0 {
                break;
            }
        }
        if stats.stored > 0 {
            tracing::info!(%peer, stored = stats.stored, pages = stats.pages, "caught up");
        }
        self.metrics.sync_rounds.inc();
        self.metrics.sync_envelopes.inc_by(stats.stored as u64);
        Ok(stats)
    }

    async fn ingest_page(&self, page: Vec<Vec<u8>>) -> Result<(usize, usize), String> {
        let now = now_ms();
        let checked = tokio::task::spawn_blocking(move || {
            page.into_iter()
                .map(|bytes| pipeline::check(bytes, now, None))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| e.to_string())?;
        let rejected = checked
            .iter()
            .filter(|c| matches!(c, Err(super::Rejection::Invalid(_))))
            .count();
        let valid: Vec<_> = checked.into_iter().filter_map(Result::ok).collect();
        let applied = self
            .store_checked(valid, now)
            .await
            .map_err(|e| e.to_string())?;
        let stored = applied
            .iter()
            .filter(|a| matches!(a, Applied::Stored(_)))
            .count();
        Ok((stored, rejected))
    }

    /// Answers a peer's fetch request with a page of what it lacks.
    pub async fn serve_sync(&self, peer: PeerId, data: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        let request = match FetchRequest::decode(&data) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "malformed sync request");
                return; // dropping the channel tells the peer no
            }
        };
        let budget = (request.max_bytes as usize).min(MAX_PAGE_BYTES);
        let have: HashMap<([u8; 16], [u8; 32]), u64> = request
            .have
            .iter()
            .map(|h| ((h.room.0, h.author.0), h.seq))
            .collect();
        let page = self
            .store
            .read(move |c| {
                let mut envelopes = Vec::new();
                let mut bytes = 0usize;
                let mut more = false;
                for (room, author, max) in envelopes::authors(c)? {
                    let from = have.get(&(room, author)).copied().unwrap_or(0);
                    if max <= from {
                        continue;
                    }
                    if envelopes.len() >= MAX_PAGE_ENVELOPES || bytes >= budget {
                        more = true;
                        break;
                    }
                    for envelope in envelopes::after(
                        c,
                        &room,
                        &author,
                        from,
                        MAX_PAGE_ENVELOPES - envelopes.len(),
                    )? {
                        if bytes + envelope.len() > budget || envelopes.len() >= MAX_PAGE_ENVELOPES
                        {
                            more = true;
                            break;
                        }
                        bytes += envelope.len();
                        envelopes.push(envelope);
                    }
                    if envelopes.len() as u64 >= MAX_PAGE_ENVELOPES as u64 {
                        more = true;
                    }
                }
                Ok(Page { more, envelopes })
            })
            .await;
        match page.map(|p| p.encode()) {
            Ok(Ok(bytes)) => self.net.respond(channel, bytes),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not encode a sync page"),
            Err(e) => tracing::warn!(error = %e, "could not read a sync page"),
        }
    }
}

/// How often a node runs a sync round with its peers, besides the rounds on every new connection.
pub const PERIODIC_SYNC: std::time::Duration = std::time::Duration::from_secs(30);

/// Most peers synced with in one periodic round.
const PEERS_PER_ROUND: usize = 3;

/// Runs a sync round with a few connected peers every [`PERIODIC_SYNC`], until the token fires.
pub async fn run_periodic(
    rooms: std::sync::Arc<Rooms>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(PERIODIC_SYNC);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let Ok(peers) = rooms.net.peers().await else {
            return;
        };
        // Rotate through peers so every one is asked now and then.
        let offset = (now_ms() / PERIODIC_SYNC.as_millis() as u64) as usize;
        let count = peers.len();
        for i in 0..count.min(PEERS_PER_ROUND) {
            if let Ok(peer) = peers[(offset + i) % count].peer_id.parse::<PeerId>()
                && let Err(e) = rooms.sync_with(peer).await
            {
                tracing::debug!(%peer, error = %e, "periodic sync failed");
            }
        }
    }
}
