//! Token buckets per key: the per-author limit on the live gossip path.

use std::collections::HashMap;
use std::hash::Hash;

/// Token buckets, one per key, refilled continuously.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate_per_ms: f64,
    burst: f64,
    buckets: HashMap<K, (f64, u64)>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` tokens per second, at most `burst` saved up.
    pub fn new(rate_per_sec: f64, burst: f64) -> Self {
        Self {
            rate_per_ms: rate_per_sec / 1000.0,
            burst,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub fn allow(&mut self, key: &K, now_ms: u64) -> bool {
        if self.buckets.len() > 100_000 {
            let full_after = (self.burst / self.rate_per_ms) as u64;
            self.buckets
                .retain(|_, (_, at)| now_ms.saturating_sub(*at) < full_after);
        }
        let (tokens, at) = self
            .buckets
            .entry(key.clone())
            .or_insert((self.burst, now_ms));
        *tokens = (*tokens + now_ms.saturating_sub(*at) as f64 * self.rate_per_ms).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let mut limiter = RateLimiter::new(10.0, 5.0);
        let allowed = (0..20).filter(|_| limiter.allow(&"a", 0)).count();
        assert_eq!(allowed, 5);
        assert!(limiter.allow(&"b", 0), "keys are independent");
        assert!(!limiter.allow(&"a", 50));
        assert!(limiter.allow(&"a", 100), "one token after 100 ms at 10/s");
        assert!(!limiter.allow(&"a", 100));
    }
}
