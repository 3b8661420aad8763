//! The network's time, for a node whose own clock is wrong.
//!
//! Envelopes and signals carry their author's wall-clock time, and nodes refuse what claims to
//! be more than 10 minutes ahead of them. A node whose clock runs three hours slow would then
//! refuse everyone else, and everyone would see its accounts as offline (their heartbeats look
//! stale). So each node compares the time in live presence heartbeats of other accounts with its
//! own clock when they arrive (transit takes milliseconds; the errors that matter are minutes),
//! and takes the median offset, counting its own clock as one more vote of 0. When that median is
//! over a minute, [`crate::store::now_ms`] adds it: the node stamps, checks and sorts by the
//! network's time. One account (or a few) with a wrong clock cannot move the median; a node
//! alone, or with clocks that agree, keeps its own time. The correction is capped at a day.
//!
//! Pure state; the signals task feeds it and publishes the offset.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chatly_protocol::AccountId;

/// Offsets under this are noise (and NTP's job): no correction.
pub const THRESHOLD_MS: i64 = 60_000;
/// The largest correction applied.
pub const CAP_MS: i64 = 24 * 3600 * 1000;
/// A sample counts this long after it was taken.
const SAMPLE_TTL: Duration = Duration::from_secs(600);
/// Accounts remembered at most (the oldest samples go first).
const MAX_SAMPLES: usize = 256;

/// Offsets of other accounts' clocks from this node's, by account.
#[derive(Debug, Default)]
pub struct NetClock {
    samples: HashMap<AccountId, (i64, Instant)>,
}

impl NetClock {
    /// Records that `author`'s heartbeat stamped `remote_ms` arrived when this node's own
    /// (uncorrected) clock read `local_ms`.
    pub fn observe(&mut self, author: AccountId, remote_ms: u64, local_ms: u64, now: Instant) {
        let offset = (remote_ms as i64).saturating_sub(local_ms as i64);
        self.samples.insert(author, (offset, now));
        if self.samples.len() > MAX_SAMPLES
            && let Some(oldest) = self
                .samples
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(a, _)| *a)
        {
            self.samples.remove(&oldest);
        }
    }

    /// The correction to add to this node's clock, in ms (0 when the network agrees with it).
    pub fn offset(&mut self, now: Instant) -> i64 {
        self.samples
            .retain(|_, (_, at)| now.duration_since(*at) < SAMPLE_TTL);
        let mut votes: Vec<i64> = self.samples.values().map(|(o, _)| *o).collect();
        votes.push(0);
        votes.sort_unstable();
        // An even count has two middle votes: the one nearer this node's own clock wins, so
        // one other clock alone never overrides it.
        let upper = votes[votes.len() / 2];
        let median = if votes.len().is_multiple_of(2) {
            let lower = votes[votes.len() / 2 - 1];
            if lower.abs() <= upper.abs() {
                lower
            } else {
                upper
            }
        } else {
            upper
        };
        if median.abs() < THRESHOLD_MS {
            0
        } else {
            median.clamp(-CAP_MS, CAP_MS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn account(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    fn clock(offsets: &[i64], now: Instant) -> NetClock {
        let mut clock = NetClock::default();
        let local = 10_000_000_000u64;
        for (i, o) in offsets.iter().enumerate() {
            clock.observe(account(i as u8), (local as i64 + o) as u64, local, now);
        }
        clock
    }

    #[test]
    fn a_slow_node_adopts_the_network_time() {
        let now = Instant::now();
        // Everyone else is 3 h ahead of this node (its clock is 3 h slow).
        let offset = clock(&[180 * MIN, 180 * MIN + 2_000, 184 * MIN], now).offset(now);
        assert!((180 * MIN..=184 * MIN).contains(&offset), "{offset}");
    }

    #[test]
    fn one_wrong_clock_cannot_move_a_node_and_small_offsets_are_ignored() {
        let now = Instant::now();
        assert_eq!(clock(&[-180 * MIN, 0, 20], now).offset(now), 0);
        assert_eq!(
            clock(&[4 * MIN], now).offset(now),
            0,
            "own clock breaks the tie"
        );
        assert_eq!(
            clock(&[30_000, 45_000], now).offset(now),
            0,
            "under a minute"
        );
        assert_eq!(clock(&[], now).offset(now), 0, "alone");
        // Three peers ahead by 4 minutes and one 3 hours behind: the node is 4 minutes slow.
        assert_eq!(
            clock(&[4 * MIN, 4 * MIN, 4 * MIN, -180 * MIN], now).offset(now),
            4 * MIN
        );
    }

    #[test]
    fn samples_expire_and_the_correction_is_capped() {
        let now = Instant::now();
        let mut c = clock(&[90 * 24 * 60 * MIN, 90 * 24 * 60 * MIN], now);
        assert_eq!(c.offset(now), CAP_MS);
        assert_eq!(c.offset(now + SAMPLE_TTL), 0, "old samples no longer count");
    }
}
