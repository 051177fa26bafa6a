//! Restart intensity: at most `max_restarts` restarts in any window of `max_seconds`.
//!
//! OTP's `add_restart`: a list of restart times, pruned of those older than the period on each
//! new restart. When the list grows past the limit the supervisor gives up: it stops its children
//! and exits, and its parent sees an ordinary child exit (escalation). The clock is a parameter
//! (tokio's `Instant`, which tests can pause), so the window is a pure function of its inputs.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A sliding window of restart times.
#[derive(Debug, Clone)]
pub struct Intensity {
    max_restarts: u32,
    period: Duration,
    restarts: VecDeque<Instant>,
}

impl Intensity {
    /// A window allowing `max_restarts` restarts in `max_seconds` (OTP's intensity and period).
    pub fn new(max_restarts: u32, max_seconds: u64) -> Self {
        Self {
            max_restarts,
            period: Duration::from_secs(max_seconds),
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now`. Returns `false` when this restart exceeds the intensity:
    /// the supervisor must give up instead of restarting.
    pub fn add_restart(&mut self, now: Instant) -> bool {
        while let Some(oldest) = self.restarts.front() {
            if now.saturating_duration_since(*oldest) > self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.push_back(now);
        self.restarts.len() <= self.max_restarts as usize
    }

    /// Restarts inside the current window (for the tree view).
    pub fn in_window(&self) -> usize {
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_intensity_gives_up_on_first_restart() {
        let mut i = Intensity::new(0, 1);
        assert!(!i.add_restart(Instant::now()));
    }

    #[test]
    fn limit_reached_within_period() {
        let t0 = Instant::now();
        let mut i = Intensity::new(3, 10);
        for k in 0..3 {
            assert!(i.add_restart(t0 + Duration::from_secs(k)));
        }
        assert!(!i.add_restart(t0 + Duration::from_secs(4)));
    }

    /// OTP `multiple_restarts`: restarts spaced wider than the period never add up.
    #[test]
    fn multiple_restarts_spaced_wider_than_period_never_add_up() {
        let t0 = Instant::now();
        let mut i = Intensity::new(1, 5);
        for k in 0..100 {
            assert!(i.add_restart(t0 + Duration::from_secs(6 * k)));
        }
        assert_eq!(i.in_window(), 1);
    }
}
