//! Receiving signals: verify, check freshness and the author's rate, open sealed ones for the
//! local members of their room, and hand what they may hear to the event bus.

use super::*;

impl Signals {
    /// Takes one signal from the mesh; returns the verdict for gossipsub.
    pub async fn receive(self: &Arc<Self>, bytes: &[u8]) -> Result<(), SignalError> {
        let signal = seal::verify(bytes)?;
        let header = &signal.header;
        let now = now_ms();
        // Presence heartbeats are checked for the future only once they have voted on the
        // network's time below: a node whose clock is slow must not refuse them all.
        if header.kind != SignalKind::Presence && header.timestamp_ms > now + MAX_CLOCK_SKEW_MS {
            return Err(SignalError::Ignored("from the future"));
        }
        if header.kind != SignalKind::Presence
            && now.saturating_sub(header.timestamp_ms) > MAX_SIGNAL_AGE_MS
        {
            return Err(SignalError::Ignored("stale"));
        }
        if !self
            .inbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(&header.author.0, now)
        {
            return Err(SignalError::Ignored("over the author's rate"));
        }
        let (author, room) = (header.author, header.room);
        let known = self
            .rooms
            .store
            .read(move |c| users::get(c, &author.0))
            .await
            .map_err(|_| SignalError::Ignored("store unavailable"))?;
        if known.is_none() {
            return Err(SignalError::Ignored("unknown author"));
        }
        if header.kind == SignalKind::Presence {
            self.observe_clock(author, header.timestamp_ms);
        }
        let now = now_ms();
        if header.timestamp_ms > now + MAX_CLOCK_SKEW_MS {
            return Err(SignalError::Ignored("from the future"));
        }
        match header.kind {
            SignalKind::Presence => {
                let SignalBody::Presence {
                    online,
                    interval_ms,
                } = seal::open_plain(&signal)?
                else {
                    return Err(SignalError::Invalid("not a presence body".into()));
                };
                let change = self
                    .presence
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .heartbeat(author, online, interval_ms, header.timestamp_ms, now);
                if let Some(change) = change {
                    self.tell(change);
                }
            }
            _ if room == RoomId::PUBLIC => {
                let body = seal::open_plain(&signal)?;
                self.emit(author, room, body, None);
            }
            _ => self.receive_sealed(signal).await,
        }
        Ok(())
    }

    /// A remote account's heartbeat votes on the network's time (see [`crate::clock`]).
    fn observe_clock(&self, author: AccountId, stamped_ms: u64) {
        if self.rooms.vault.get(&author).is_some() {
            return; // a local account: our own clock
        }
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        let at = std::time::Instant::now();
        clock.observe(author, stamped_ms, crate::store::local_now_ms(), at);
        let offset = clock.offset(at);
        let previous = crate::store::set_clock_offset(offset);
        if (offset - previous).abs() >= crate::clock::THRESHOLD_MS {
            tracing::warn!(
                offset_ms = offset,
                "this machine's clock disagrees with the network's; using the network's time"
            );
        }
    }

    /// Opens a sealed room signal for each unlocked local member and tells those it opened for.
    /// A member that lacks the author's chain may simply not have processed the key delivery
    /// sent just before the signal (they travel on different topics): it gets two more tries,
    /// after pending deliveries are opened, off the receive loop.
    async fn receive_sealed(self: &Arc<Self>, signal: chatly_protocol::signal::Signal) {
        let (author, room) = (signal.header.author, signal.header.room);
        let Ok(Some(members)) = self.local_audience(room, author).await else {
            return;
        };
        let lacking = self.open_for(&signal, &members).await;
        if lacking.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut lacking = lacking;
            for wait in [300, 1_000] {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                for member in &lacking {
                    if let Some(keys) = this.rooms.vault.get(member) {
                        let _ = this.rooms.open_room(&keys, room).await;
                    }
                }
                lacking = this.open_for(&signal, &lacking).await;
                if lacking.is_empty() {
                    return;
                }
            }
        });
    }

    /// Opens `signal` for each of `members` and tells those it opened for; returns the members
    /// who lack the author's chain.
    async fn open_for(
        &self,
        signal: &chatly_protocol::signal::Signal,
        members: &[AccountId],
    ) -> Vec<AccountId> {
        let header = &signal.header;
        let (author, room, chain_id) = (header.author, header.room, header.key_id);
        let mut heard = Vec::new();
        let mut lacking = Vec::new();
        let mut body = None;
        for &member in members {
            let Some(keys) = self.rooms.vault.get(&member) else {
                continue;
            };
            let sealed = self
                .rooms
                .store
                .read(move |c| private::receiver_chain(c, &member.0, &room.0, &author.0, &chain_id))
                .await;
            let Some(chain) = sealed.ok().flatten().and_then(|s| {
                chatly_crypto::wrap::open(
                    keys.master.expose(),
                    crate::rooms::groups::CHAIN_LABEL,
                    &s,
                )
                .ok()
                .and_then(|b| chatly_crypto::ReceiverChain::from_bytes(&b).ok())
            }) else {
                lacking.push(member);
                continue;
            };
            if let Ok(opened) = seal::open_sealed(signal, &chain) {
                body = Some(opened);
                heard.push(member);
            }
        }
        if let Some(body) = body {
            self.emit(author, room, body, Some(heard));
        }
        lacking
    }
}
