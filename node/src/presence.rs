//! Presence as a plain state machine: who is online, from open WebSockets on this node.
//!
//! An account is online while it has at least one open event WebSocket on its home node. This
//! table counts them and says when an account goes online or offline; it does no IO and takes
//! the time as an argument.

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

/// The presence table.
#[derive(Debug, Default)]
pub struct Presence {
    sockets: HashMap<AccountId, usize>,
    last_seen: HashMap<AccountId, u64>,
}

impl Presence {
    /// A WebSocket of `user` opened.
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

    /// A WebSocket of `user` closed.
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

    /// Whether `user` is online, and when last seen.
    pub fn status(&self, user: &AccountId) -> (bool, Option<u64>) {
        (
            self.sockets.contains_key(user),
            self.last_seen.get(user).copied(),
        )
    }

    /// Everyone online.
    pub fn online(&self) -> Vec<AccountId> {
        self.sockets.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_while_any_socket_is_open() {
        let mut p = Presence::default();
        let alice = AccountId([1; 32]);
        assert_eq!(
            p.socket_opened(alice, 10),
            Some(Change {
                user: alice,
                online: true,
                last_seen: 10
            })
        );
        assert_eq!(p.socket_opened(alice, 20), None);
        assert_eq!(p.socket_closed(alice, 30), None);
        assert!(p.status(&alice).0);
        assert_eq!(
            p.socket_closed(alice, 40),
            Some(Change {
                user: alice,
                online: false,
                last_seen: 40
            })
        );
        assert_eq!(p.status(&alice), (false, Some(40)));
        assert_eq!(
            p.socket_closed(alice, 50),
            None,
            "an unknown close changes nothing"
        );
    }
}
