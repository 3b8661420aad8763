//! Publishing: one payload as given ([`Command::Publish`]), or envelopes, which travel together in
//! gossip bundles under load ([`Command::PublishEnvelope`]; docs/protocol.md, "Gossip bundles").
//!
//! Each gossip message costs every relaying node a frame, an encryption and a system call per
//! mesh peer whatever its size; in a busy mesh that cost, not the bytes, bounds the rate. So
//! envelope payloads leave at most once every [`HOLD`]: an envelope that finds the last payload
//! [`HOLD`] or more in the past goes out at once, alone (a quiet room waits for nothing); one that
//! comes sooner waits for the rest of that interval, and everything that gathered meanwhile goes
//! out in as few bundles as fit. Under load this adds at most [`HOLD`] to a message's way.
//!
//! An envelope is answered when it is taken, not when its payload leaves: `Ok` if a peer takes
//! the topic (as gossipsub's own publish says), [`NetError::NoPeers`] if none does, and then it is
//! not held; the outbox sends it when one comes. A payload that fails later (every peer gone in
//! those milliseconds) is logged; the envelope reaches them by sync, like any missed one.

use std::time::Instant;

use chatly_protocol::bundle::Bundler;
use libp2p::gossipsub::{IdentTopic, PublishError};

use super::event_loop::EventLoop;
use super::{Command, NetError, Topic};

/// Shortest time between two envelope payloads: short enough that nobody sees it, long enough
/// to gather a burst (measured: 2 ms gains a little, 5 ms about a third in a 10-node mesh;
/// docs/performance.md, "Session 11").
pub const HOLD: std::time::Duration = std::time::Duration::from_millis(5);

/// Most commands taken from the queue at once: the swarm is polled again between batches.
const MAX_COMMANDS_AT_ONCE: usize = 1_024;

/// Envelopes waiting for the next payload, and when the last one left.
#[derive(Default)]
pub(super) struct Outgoing {
    held: Vec<(Topic, Vec<u8>)>,
    last: Option<Instant>,
}

impl Outgoing {
    /// When the held envelopes are due, if any are held.
    pub(super) fn due(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        Some(self.last.map_or_else(Instant::now, |last| last + HOLD))
    }
}

impl EventLoop {
    /// Handles `first` and the commands already queued behind it, then publishes the envelopes
    /// held if they are due.
    pub(super) fn handle_commands(&mut self, first: Command) {
        self.handle_command(first);
        for _ in 1..MAX_COMMANDS_AT_ONCE {
            let Ok(command) = self.commands.try_recv() else {
                break;
            };
            self.handle_command(command);
        }
        if self.outgoing.due().is_some_and(|due| due <= Instant::now()) {
            self.flush_envelopes();
        }
    }

    /// Takes an envelope for the next payload if a peer takes its topic.
    pub(super) fn hold_envelope(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        let hash = IdentTopic::new(topic.name()).hash();
        let subscribed = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .any(|(_, topics)| topics.contains(&&hash));
        if !subscribed {
            return Err(NetError::NoPeers);
        }
        self.outgoing.held.push((topic, data));
        Ok(())
    }

    /// Publishes the held envelopes, bundled per topic.
    pub(super) fn flush_envelopes(&mut self) {
        let mut held = std::mem::take(&mut self.outgoing.held);
        if held.is_empty() {
            return;
        }
        self.outgoing.last = Some(Instant::now());
        for topic in Topic::ALL {
            let mut bundler = Bundler::default();
            for (_, data) in held.extract_if(.., |(t, _)| *t == topic) {
                bundler.push(data);
            }
            for group in bundler.groups() {
                let count = group.len();
                let result = Bundler::payload(group)
                    .map_err(|e| NetError::Publish(e.to_string()))
                    .and_then(|payload| self.publish(topic, payload));
                match result {
                    Ok(()) => {}
                    Err(NetError::NoPeers) => {
                        tracing::debug!(
                            count,
                            "envelopes not published: no peer takes the topic now"
                        )
                    }
                    Err(e) => tracing::warn!(count, error = %e, "envelopes not published"),
                }
            }
        }
    }

    /// Publishes one gossip payload.
    pub(super) fn publish(&mut self, topic: Topic, payload: Vec<u8>) -> Result<(), NetError> {
        let result = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(topic.name()), payload);
        match result {
            Ok(_) | Err(PublishError::Duplicate) => Ok(()),
            Err(PublishError::NoPeersSubscribedToTopic) => Err(NetError::NoPeers),
            Err(PublishError::AllQueuesFull(_)) => Err(NetError::QueuesFull),
            Err(e) => Err(NetError::Publish(e.to_string())),
        }
    }
}
