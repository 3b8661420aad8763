//! Presence as a plain state machine: who is online, from open WebSockets on this node and from
//! heartbeats of other nodes' accounts. No IO; the time is always an argument.
//!
//! An account hosted here is online while it has at least one open event WebSocket here. An
//! account hosted elsewhere is online while its home node keeps sending heartbeats: each one
//! announces the sender's interval, and the account goes offline two intervals after the last one,
//! or at once on an "offline" notice (last socket closed, clean shutdown). Heartbeats older than
//! the newest one seen from the same account are ignored, so a replay cannot bring anyone back.

use std::collections::HashMap;

use chatly_protocol::AccountId;

/// A change worth telling people about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Whose presence changed.
    pub user: AccountId,
    /// Online now.
    pub online: bool,
    /// When last seen online, ms.
    pub last_seen: u64,
}

/// What the heartbeats of a remote account said last.
#[derive(Debug, Clone, Copy)]
struct Remote {
    online: bool,
    /// Offline after this unless another heartbeat comes.
    until_ms: u64,
    /// The author's timestamp of the newest heartbeat taken.
    sent_ms: u64,
}

/// The presence table.
#[derive(Debug, Default)]
pub struct Presence {
    sockets: HashMap<AccountId, usize>,
    remote: HashMap<AccountId, Remote>,
    last_seen: HashMap<AccountId, u64>,
}

impl Presence {
    /// A WebSocket of local account `user` opened.
    pub fn socket_opened(&mut self, user: AccountId, now_ms: u64) -> Option<Change> {
        let count = self.sockets.entry(user).or_insert(0);
        *count += 1;
        self.last_seen.insert(user, now_ms);
        (*count == 1).then_some(Change {
            user,
            online: true,
            last_seen: now_ms,
        })
    }

    /// A WebSocket of local account `user` closed.
    pub fn socket_closed(&mut self, user: AccountId, now_ms: u64) -> Option<Change> {
        let count = self.sockets.get_mut(&user)?;
        *count -= 1;
        self.last_seen.insert(user, now_ms);
        if *count > 0 {
            return None;
        }
        self.sockets.remove(&user);
        Some(Change {
            user,
            online: false,
            last_seen: now_ms,
        })
    }

    /// Local accounts with an open socket: the ones this node sends heartbeats for.
    pub fn local_online(&self) -> Vec<AccountId> {
        self.sockets.keys().copied().collect()
    }

    /// A heartbeat (or offline notice) of a remote account, sent at `sent_ms` by its clock.
    pub fn heartbeat(
        &mut self,
        user: AccountId,
        online: bool,
        interval_ms: u32,
        sent_ms: u64,
        now_ms: u64,
    ) -> Option<Change> {
        let was = self.is_online(&user);
        if let Some(remote) = self.remote.get(&user)
            && remote.sent_ms >= sent_ms
        {
            return None;
        }
        self.remote.insert(
            user,
            Remote {
                online,
                until_ms: now_ms + 2 * u64::from(interval_ms),
                sent_ms,
            },
        );
        self.last_seen.insert(user, now_ms);
        let is = self.is_online(&user);
        (is != was).then_some(Change {
            user,
            online: is,
            last_seen: now_ms,
        })
    }

    /// Remote accounts whose heartbeats stopped: offline now. Call it about once a second.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        for (user, remote) in &mut self.remote {
            if remote.online && remote.until_ms <= now_ms {
                remote.online = false;
                if !self.sockets.contains_key(user) {
                    changes.push(Change {
                        user: *user,
                        online: false,
                        last_seen: self.last_seen.get(user).copied().unwrap_or(now_ms),
                    });
                }
            }
        }
        changes
    }

    fn is_online(&self, user: &AccountId) -> bool {
        self.sockets.contains_key(user) || self.remote.get(user).is_some_and(|r| r.online)
    }

    /// Whether `user` is online, and when last seen.
    pub fn status(&self, user: &AccountId) -> (bool, Option<u64>) {
        (self.is_online(user), self.last_seen.get(user).copied())
    }

    /// Everyone online, local or remote.
    pub fn online(&self) -> Vec<AccountId> {
        let mut all: Vec<AccountId> = self
            .sockets
            .keys()
            .chain(
                self.remote
                    .iter()
                    .filter(|(_, r)| r.online)
                    .map(|(user, _)| user),
            )
            .copied()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(user: AccountId, online: bool, last_seen: u64) -> Option<Change> {
        Some(Change {
            user,
            online,
            last_seen,
        })
    }

    #[test]
    fn online_while_any_socket_is_open() {
        let mut p = Presence::default();
        let alice = AccountId([1; 32]);
        assert_eq!(p.socket_opened(alice, 10), change(alice, true, 10));
        assert_eq!(p.socket_opened(alice, 20), None);
        assert_eq!(p.socket_closed(alice, 30), None);
        assert!(p.status(&alice).0);
        assert_eq!(p.local_online(), vec![alice]);
        assert_eq!(p.socket_closed(alice, 40), change(alice, false, 40));
        assert_eq!(p.status(&alice), (false, Some(40)));
        assert_eq!(
            p.socket_closed(alice, 50),
            None,
            "an unknown close changes nothing"
        );
    }

    #[test]
    fn a_remote_account_times_out_after_two_intervals() {
        let mut p = Presence::default();
        let bob = AccountId([2; 32]);
        // A fake clock: heartbeats every 1000 ms, then silence.
        assert_eq!(p.heartbeat(bob, true, 1000, 5, 100), change(bob, true, 100));
        assert_eq!(p.heartbeat(bob, true, 1000, 1005, 1100), None);
        assert!(
            p.expire(3000).is_empty(),
            "within two intervals of the last"
        );
        assert_eq!(p.online(), vec![bob]);
        assert_eq!(p.expire(3100), vec![change(bob, false, 1100).unwrap()]);
        assert!(p.expire(9000).is_empty(), "told once");
        assert_eq!(p.status(&bob), (false, Some(1100)));
        assert_eq!(
            p.heartbeat(bob, true, 1000, 9005, 9100),
            change(bob, true, 9100)
        );
    }

    #[test]
    fn an_offline_notice_is_immediate_and_replays_change_nothing() {
        let mut p = Presence::default();
        let carol = AccountId([3; 32]);
        p.heartbeat(carol, true, 10_000, 1000, 1000);
        assert_eq!(
            p.heartbeat(carol, false, 10_000, 2000, 2000),
            change(carol, false, 2000)
        );
        assert_eq!(
            p.heartbeat(carol, true, 10_000, 1000, 2500),
            None,
            "an old heartbeat replayed"
        );
        assert!(p.online().is_empty());
    }

    #[test]
    fn online_lists_each_account_once() {
        let mut p = Presence::default();
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        p.socket_opened(a, 0);
        p.heartbeat(b, true, 1000, 0, 0);
        p.heartbeat(a, true, 1000, 0, 0);
        assert_eq!(p.online(), vec![a, b]);
    }
}
