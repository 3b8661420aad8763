//! The opener task: opens what the gossip path left unopened (sync's arrivals, key deliveries
//! that came late) and everything pending when an account is unlocked, one store job per
//! account and room ([`Rooms::open_room`]).

use std::sync::Arc;

use chatly_protocol::RoomId;

use super::Rooms;
use super::opening::open_pending;
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::store::StoreError;

impl Rooms {
    /// Opens whatever `keys`' account can newly open in `room`: deliveries to it, then sealed
    /// content. Returns how many messages it opened.
    ///
    /// The whole pass is one job of the store writer ([`open_pending`]): it reads what is
    /// pending, opens it and stores the result in one transaction. Nothing crosses threads in
    /// between, and two passes never advance the same chain from the same stored state (the
    /// writer runs one job at a time).
    pub async fn open_room(
        &self,
        keys: &Arc<UnlockedKeys>,
        room: RoomId,
    ) -> Result<usize, StoreError> {
        let (keys, states) = (keys.clone(), self.states.clone());
        let (made, events) = self
            .store
            .write_relaxed(move |txn| {
                let state = states.load(txn, room)?;
                open_pending(txn, &keys, room, &state)
            })
            .await?;
        for event in events {
            self.bus.publish(event);
        }
        Ok(made)
    }
}

/// Opens sealed content for unlocked local members as it arrives, and everything pending when an
/// account is unlocked, until shutdown.
pub async fn run_opener(
    rooms: std::sync::Arc<Rooms>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut events = rooms.bus.subscribe();
    loop {
        let room = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = rooms.vault.unlocks.notified() => {
                for keys in rooms.vault.all() {
                    if let Err(e) = rooms.refresh_record(&keys).await {
                        tracing::warn!(error = %e, "could not re-publish an account record");
                    }
                }
                None
            }
            event = events.recv() => match event {
                Ok(NodeEvent::RoomData(room) | NodeEvent::RoomUpdated(room)) => Some(room),
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        // Fold in the arrivals already waiting: under load, one pass opens many of them.
        let mut room = room.map(|room| vec![room]);
        loop {
            match events.try_recv() {
                Ok(NodeEvent::RoomData(more) | NodeEvent::RoomUpdated(more)) => {
                    if let Some(list) = &mut room
                        && !list.contains(&more)
                    {
                        list.push(more);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => room = None,
                Err(_) => break,
            }
        }
        for keys in rooms.vault.all() {
            let targets = match &room {
                Some(list) => list.clone(),
                None => match rooms.rooms_of(keys.account_id()).await {
                    Ok(list) => list.into_iter().map(|(room, _)| room).collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list rooms to open");
                        continue;
                    }
                },
            };
            for room in targets {
                if let Err(e) = rooms.open_room(&keys, room).await {
                    tracing::warn!(error = %e, "opening sealed content failed");
                }
            }
        }
    }
}
