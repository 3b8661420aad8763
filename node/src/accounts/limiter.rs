//! Failed-login limiter: at most N failures per minute per key (an account, a client address).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);

/// Counts failures per key in a sliding one-minute window.
#[derive(Debug)]
pub struct FailureLimiter {
    max: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    /// A limiter allowing `max` failures per minute per key.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while any of `keys` is over its limit.
    pub fn check(&self, keys: &[&str], now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = failures.get_mut(*key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= self.max
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(WINDOW - now.duration_since(*oldest));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    /// Records one failure for each key.
    pub fn record_failure(&self, keys: &[&str], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        for key in keys {
            failures
                .entry((*key).to_string())
                .or_default()
                .push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_recovers_after_the_window() {
        let limiter = FailureLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(
                limiter
                    .check(&["alice"], t0 + Duration::from_secs(i))
                    .is_ok()
            );
            limiter.record_failure(&["alice"], t0 + Duration::from_secs(i));
        }
        let wait = limiter
            .check(&["alice"], t0 + Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(55));
        assert!(limiter.check(&["bob"], t0 + Duration::from_secs(5)).is_ok());
        assert!(
            limiter
                .check(&["alice"], t0 + Duration::from_secs(61))
                .is_ok()
        );
    }
}
