//! Sessions already found in the store, kept in memory so that an authenticated request costs
//! no store read (a trip through the blocking pool on the path of every post).
//!
//! Sessions are only ever created by a login and removed by a logout or by expiring, so an entry
//! stays true until its expiry unless its session is logged out. A logout forgets the entry
//! after deleting the row, and bumps an epoch: a check that read the row before the delete and
//! finishes after it sees the epoch moved and does not put the ended session back.

use std::collections::HashMap;
use std::sync::Mutex;

use chatly_protocol::AccountId;

/// Entries beyond which a new one first drops the expired ones.
const TIDY_ABOVE: usize = 4096;

/// Session id → (account, expiry in ms), and the logout epoch.
#[derive(Debug, Default)]
pub(crate) struct SessionCache(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    epoch: u64,
    sessions: HashMap<[u8; 32], (AccountId, u64)>,
}

impl SessionCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The account of session `id`, if it is known and unexpired at `now`.
    pub(crate) fn get(&self, id: &[u8; 32], now: u64) -> Option<AccountId> {
        let inner = self.inner();
        let (user, expires_at) = inner.sessions.get(id)?;
        (*expires_at > now).then_some(*user)
    }

    /// The logout epoch; read it before reading a session from the store.
    pub(crate) fn epoch(&self) -> u64 {
        self.inner().epoch
    }

    /// Remembers a session read from the store, unless a logout happened since `epoch`.
    pub(crate) fn insert(
        &self,
        epoch: u64,
        id: [u8; 32],
        user: AccountId,
        expires_at: u64,
        now: u64,
    ) {
        let mut inner = self.inner();
        if inner.epoch != epoch {
            return;
        }
        if inner.sessions.len() >= TIDY_ABOVE {
            inner.sessions.retain(|_, (_, expiry)| *expiry > now);
        }
        inner.sessions.insert(id, (user, expires_at));
    }

    /// Forgets a session whose row was deleted.
    pub(crate) fn forget(&self, id: &[u8; 32]) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.sessions.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: AccountId = AccountId([1; 32]);

    #[test]
    fn a_session_is_known_until_it_expires_or_is_forgotten() {
        let cache = SessionCache::default();
        let epoch = cache.epoch();
        cache.insert(epoch, [7; 32], ALICE, 1_000, 0);
        assert_eq!(cache.get(&[7; 32], 999), Some(ALICE));
        assert_eq!(cache.get(&[7; 32], 1_000), None, "expired");
        assert_eq!(cache.get(&[8; 32], 0), None, "unknown");
        cache.forget(&[7; 32]);
        assert_eq!(cache.get(&[7; 32], 0), None, "logged out");
    }

    #[test]
    fn a_check_that_raced_a_logout_does_not_put_the_session_back() {
        let cache = SessionCache::default();
        // A request read the session's row; before it could remember it, the session ended.
        let epoch = cache.epoch();
        cache.forget(&[7; 32]);
        cache.insert(epoch, [7; 32], ALICE, 1_000, 0);
        assert_eq!(cache.get(&[7; 32], 0), None);
        // A check that starts after the logout reads the store afresh and may remember.
        let epoch = cache.epoch();
        cache.insert(epoch, [9; 32], ALICE, 1_000, 0);
        assert_eq!(cache.get(&[9; 32], 0), Some(ALICE));
    }

    #[test]
    fn a_full_cache_drops_expired_sessions_first() {
        let cache = SessionCache::default();
        for i in 0..TIDY_ABOVE {
            let mut id = [0; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(cache.epoch(), id, ALICE, 10, 0);
        }
        cache.insert(cache.epoch(), [0xff; 32], ALICE, 1_000, 20);
        assert_eq!(cache.inner().sessions.len(), 1);
    }
}
