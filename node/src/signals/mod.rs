//! Signals: presence heartbeats, typing notices and read receipts, over their own gossip topic
//! (docs/protocol.md, "Signals"). Ephemeral: never stored as history, never synced.
//!
//! - [`seal`]: building, verifying and opening signals (no IO).
//! - [`Signals`]: sending (from the API and the heartbeat loop), receiving (from the ingest task,
//!   `receive.rs`), and handing what a local account may hear to the event bus.
//! - [`run_signals`]: the task: received signals, heartbeats of local online accounts, and the
//!   presence timeouts of remote ones.
//!
//! Typing and receipts in group and direct rooms are sealed with the author's sender chain, so
//! only members open them; a node relays what it cannot open.

mod receive;
pub mod seal;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatly_protocol::signal::{SignalBody, SignalKind};
use chatly_protocol::{AccountId, EnvelopeId, MAX_CLOCK_SKEW_MS, RoomId};
use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use tokio::sync::mpsc;

use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::net::{NetError, Topic};
use crate::presence::{Change, Presence};
use crate::rooms::ratelimit::RateLimiter;
use crate::rooms::{RoomError, Rooms};
use crate::store::messages::PUBLIC_VIEWER;
use crate::store::{now_ms, private, reads, users};
use seal::SignalError;

/// A person typing sends at most one notice per room this often; the UI shows it for 6 s.
pub const TYPING_EVERY_MS: u64 = 3_000;
/// Typing notices and receipts older than this are stale on arrival and dropped.
const MAX_SIGNAL_AGE_MS: u64 = 30_000;
/// Received signals per author: rate and burst.
const AUTHOR_RATE: (f64, f64) = (5.0, 20.0);

/// A signal from the mesh, awaiting its verdict.
pub type SignalGossip = (PeerId, MessageId, Vec<u8>);

/// Sends and receives signals; see the module docs.
pub struct Signals {
    rooms: Arc<Rooms>,
    /// Who is online.
    pub presence: Arc<Mutex<Presence>>,
    interval: Duration,
    inbound: Mutex<RateLimiter<[u8; 32]>>,
    typing_sent: Mutex<HashMap<(AccountId, RoomId), u64>>,
    /// Other accounts' clocks, from their heartbeats.
    clock: Mutex<crate::clock::NetClock>,
}

impl Signals {
    /// Signals for a node whose accounts announce themselves every `interval`.
    pub fn new(rooms: Arc<Rooms>, presence: Arc<Mutex<Presence>>, interval: Duration) -> Self {
        Self {
            rooms,
            presence,
            interval,
            inbound: Mutex::new(RateLimiter::new(AUTHOR_RATE.0, AUTHOR_RATE.1)),
            typing_sent: Mutex::new(HashMap::new()),
            clock: Mutex::new(crate::clock::NetClock::default()),
        }
    }

    /// "`keys`' account is typing in `room`", at most every [`TYPING_EVERY_MS`] per room.
    pub async fn typing(&self, keys: &UnlockedKeys, room: RoomId) -> Result<(), RoomError> {
        let now = now_ms();
        {
            let mut sent = self.typing_sent.lock().unwrap_or_else(|e| e.into_inner());
            let last = sent.entry((keys.account_id(), room)).or_insert(0);
            if now.saturating_sub(*last) < TYPING_EVERY_MS {
                return Ok(());
            }
            *last = now;
            if sent.len() > 10_000 {
                sent.retain(|_, at| now.saturating_sub(*at) < TYPING_EVERY_MS);
            }
        }
        self.send(keys, room, SignalBody::Typing).await
    }

    /// Marks `room` read up to `message` for `keys`' account (kept across restarts) and tells
    /// the room. `Ok(false)`: no such message in the room for this account.
    pub async fn read(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        message: EnvelopeId,
    ) -> Result<bool, RoomError> {
        let me = keys.account_id();
        let viewer = if room == RoomId::PUBLIC {
            PUBLIC_VIEWER
        } else {
            me.0
        };
        let row = self
            .rooms
            .store
            .read(move |c| crate::store::messages::get(c, &viewer, &message.0))
            .await?;
        let Some(row) = row.filter(|r| r.room == room.0) else {
            return Ok(false);
        };
        let moved = self
            .rooms
            .store
            .write(move |txn| reads::mark(txn, &me.0, &room.0, &message.0, row.sent_at))
            .await?;
        if moved {
            self.send(keys, room, SignalBody::Read { message }).await?;
        }
        Ok(true)
    }

    /// Builds, publishes and delivers locally one room signal.
    async fn send(
        &self,
        keys: &UnlockedKeys,
        room: RoomId,
        body: SignalBody,
    ) -> Result<(), RoomError> {
        let author = keys.account_id();
        let now = now_ms();
        let bytes = if room == RoomId::PUBLIC {
            seal::plain(&keys.identity, author, room, body, now)
        } else {
            let state = self.rooms.room_state(room).await?;
            if !state.is_member(&author) {
                return Err(RoomError::Forbidden("not a member of this room".into()));
            }
            let mut guard = self.rooms.lock_author(room, author).await;
            let chain = self
                .rooms
                .ensure_chain(&mut guard, keys, room, &state)
                .await?;
            seal::sealed(&keys.identity, author, room, body, &chain, now)
        }
        .map_err(|e| RoomError::Rejected(crate::rooms::Rejection::Invalid(e.to_string())))?;
        self.publish(bytes).await;
        let audience = self.local_audience(room, author).await?;
        self.emit(author, room, body, audience);
        Ok(())
    }

    async fn publish(&self, bytes: Vec<u8>) {
        match self.rooms.net.publish(Topic::Signals, bytes).await {
            Ok(()) | Err(NetError::NoPeers) => {}
            Err(e) => tracing::debug!(error = %e, "a signal was not published"),
        }
    }

    /// Local accounts other than `author` that may hear a signal in `room` (`None`: everyone).
    async fn local_audience(
        &self,
        room: RoomId,
        author: AccountId,
    ) -> Result<Option<Vec<AccountId>>, RoomError> {
        if room == RoomId::PUBLIC {
            return Ok(None);
        }
        let state = self.rooms.room_state(room).await?;
        let local = self
            .rooms
            .store
            .read(crate::store::accounts::account_ids)
            .await?;
        Ok(Some(
            local
                .into_iter()
                .map(AccountId)
                .filter(|a| *a != author && state.is_member(a))
                .collect(),
        ))
    }

    fn emit(
        &self,
        user: AccountId,
        room: RoomId,
        body: SignalBody,
        audience: Option<Vec<AccountId>>,
    ) {
        if audience.as_ref().is_some_and(Vec::is_empty) {
            return;
        }
        match body {
            SignalBody::Typing => self.rooms.bus.publish(NodeEvent::Typing {
                room,
                user,
                audience,
            }),
            SignalBody::Read { message } => self.rooms.bus.publish(NodeEvent::Receipt {
                room,
                user,
                message,
                audience,
            }),
            SignalBody::Presence { .. } => {}
        }
    }

    /// Announces a local account's presence now (a socket opened or its last one closed, or
    /// a heartbeat). Needs the account unlocked; a locked one stays silent.
    pub async fn announce(&self, user: AccountId, online: bool) {
        let Some(keys) = self.rooms.vault.get(&user) else {
            return;
        };
        let body = SignalBody::Presence {
            online,
            interval_ms: self.interval.as_millis().min(u32::MAX as u128) as u32,
        };
        if let Ok(bytes) = seal::plain(&keys.identity, user, RoomId::DIRECTORY, body, now_ms()) {
            self.publish(bytes).await;
        }
    }

    /// Tells the mesh every local account goes offline (clean shutdown).
    pub async fn goodbye(&self) {
        let online = self
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .local_online();
        for user in &online {
            self.announce(*user, false).await;
        }
        if !online.is_empty() {
            // Let the event loop hand the notices to gossipsub before it stops.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn tell(&self, change: Change) {
        self.rooms.bus.publish(NodeEvent::Presence {
            user: change.user,
            online: change.online,
            last_seen: Some(change.last_seen),
        });
    }
}

fn verdict(result: &Result<(), SignalError>) -> MessageAcceptance {
    match result {
        Ok(()) => MessageAcceptance::Accept,
        Err(SignalError::Invalid(_)) => MessageAcceptance::Reject,
        Err(SignalError::Ignored(_)) => MessageAcceptance::Ignore,
    }
}

/// Receives signals, sends heartbeats for local online accounts every interval, and times out
/// remote accounts, until the channel closes.
pub async fn run_signals(signals: Arc<Signals>, mut received: mpsc::Receiver<SignalGossip>) {
    // At a phase of this node's own: nodes started together would beat together otherwise, and
    // each would verify and relay all the others' heartbeats at the same moment (`spread`).
    let first = tokio::time::Instant::now() + crate::spread::phase(signals.interval);
    let mut heartbeat = tokio::time::interval_at(first, signals.interval);
    let mut expiry = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            gossip = received.recv() => {
                let Some((source, id, bytes)) = gossip else { return };
                let result = signals.receive(&bytes).await;
                if let Err(e) = &result {
                    tracing::debug!(peer = %source, error = %e, "signal not taken");
                }
                signals.rooms.net.report(id, source, verdict(&result));
            }
            _ = heartbeat.tick() => {
                let online = signals.presence.lock().unwrap_or_else(|e| e.into_inner()).local_online();
                for user in online {
                    signals.announce(user, true).await;
                }
            }
            _ = expiry.tick() => {
                let changes = signals.presence.lock().unwrap_or_else(|e| e.into_inner()).expire(now_ms());
                for change in changes {
                    signals.tell(change);
                }
            }
        }
    }
}
