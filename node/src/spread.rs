//! Spreading periodic work at random, so that nodes started together do not do it together.
//!
//! Machines switched on at once (a classroom, an event's laptops, a LAN after a power cut, a test
//! network on one host) start their timers at the same moment, and timers of the same period stay
//! in step: every node's presence heartbeat, or routing round, lands in the same fraction of a
//! second, and every node receives, verifies and relays all of them at once while chat waits
//! behind them. Periodic routing messages are known to fall into step this way unless each
//! period is varied at random (Floyd and Jacobson, "The Synchronization of Periodic Routing
//! Messages", 1994). Without a source of randomness the work keeps its plain schedule:
//! spreading is a nicety, not a need.

use std::time::Duration;

/// A number drawn at random below `n` (which must not be 0); `None` without a source of
/// randomness.
pub fn draw_below(n: u32) -> Option<u32> {
    let mut bytes = [0; 4];
    getrandom::fill(&mut bytes).ok()?;
    Some(u32::from_le_bytes(bytes) % n)
}

/// Steps a period is divided into for drawing: fine enough for any timer here.
const STEPS: u32 = 1_000;

/// A fraction of `period` drawn at random in `[0, period)`: where a node's cycle of periodic work
/// starts. Zero without randomness.
pub fn phase(period: Duration) -> Duration {
    period * draw_below(STEPS).unwrap_or(0) / STEPS
}

/// `period` varied at random within `[period / 2, period * 3 / 2)`: the gap before the next
/// round of work whose period is not fixed anyway. `period` itself without randomness.
pub fn around(period: Duration) -> Duration {
    period / 2 + draw_below(STEPS).map_or(period / 2, |step| period * step / STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_fall_within_the_period_and_differ() {
        let period = Duration::from_secs(5);
        let drawn: Vec<Duration> = (0..200).map(|_| phase(period)).collect();
        assert!(drawn.iter().all(|d| *d < period), "{drawn:?}");
        // 200 draws over 1,000 steps: nodes started together end up apart.
        let mut distinct = drawn.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 100, "{} distinct phases", distinct.len());
        assert!(drawn.iter().any(|d| *d < period / 4));
        assert!(drawn.iter().any(|d| *d >= period * 3 / 4));
    }

    #[test]
    fn gaps_vary_by_up_to_half_the_period_either_way() {
        let period = Duration::from_secs(4);
        let drawn: Vec<Duration> = (0..200).map(|_| around(period)).collect();
        assert!(
            drawn
                .iter()
                .all(|d| *d >= period / 2 && *d < period * 3 / 2),
            "{drawn:?}"
        );
        assert!(drawn.iter().any(|d| *d < period * 3 / 4));
        assert!(drawn.iter().any(|d| *d > period * 5 / 4));
    }

    #[test]
    fn draws_stay_below_their_bound() {
        assert!((0..1_000).all(|_| draw_below(7).is_some_and(|n| n < 7)));
        assert_eq!(draw_below(1), Some(0));
    }
}
