//! esockd's per-connection rate limit: a token bucket the reader takes from after every read.
//!
//! `burst` bytes at once, refilled at `rate` bytes a second. Reading more than the bucket holds
//! runs it into debt, and the reader sleeps until the debt is repaid, so the average stays at the
//! rate while the socket is not read (TCP pushes back on the client), as esockd pauses the socket.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimit;

/// One connection's bucket.
pub struct TokenBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `limit`.
    pub fn new(limit: &RateLimit) -> Self {
        Self {
            burst: limit.burst as f64,
            rate: (limit.bytes_per_sec as f64).max(1.0),
            tokens: limit.burst as f64,
            last: Instant::now(),
        }
    }

    /// Takes `n` bytes' worth; returns how long to pause reading, if the bucket is in debt.
    pub fn take(&mut self, n: usize) -> Option<Duration> {
        let now = Instant::now();
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst) - n as f64;
        self.last = now;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_free_and_debt_is_repaid_at_the_rate() {
        let mut bucket = TokenBucket::new(&RateLimit {
            burst: 1000,
            bytes_per_sec: 100,
        });
        assert_eq!(bucket.take(1000), None, "the burst");
        let pause = bucket.take(50).expect("in debt");
        assert_eq!(pause, Duration::from_millis(500));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            bucket.take(50),
            None,
            "a second refilled 100 bytes, 50 of them owed"
        );
    }
}
