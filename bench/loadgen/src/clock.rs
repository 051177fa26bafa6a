//! One monotonic clock for the whole process, in nanoseconds since its first reading, and
//! the measurement window expressed on it.
//!
//! Only what happens inside the window counts towards rates and latency; the warm-up before
//! it lets connections, buffers and the broker's allocator settle, and the drain after it
//! lets every message sent inside it arrive before loss is counted.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static BASE: OnceLock<Instant> = OnceLock::new();

fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds since the process first read the clock.
pub fn now_ns() -> u64 {
    u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The tokio instant of a [`now_ns`] reading, to sleep until it.
pub fn instant_at(ns: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(base() + Duration::from_nanos(ns))
}

/// Sleeps until the clock reads `ns`.
pub async fn sleep_until(ns: u64) {
    tokio::time::sleep_until(instant_at(ns)).await;
}

/// The measurement window, `[start_ns, end_ns)`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First instant that counts.
    pub start_ns: u64,
    /// First instant that no longer counts; publishers stop here.
    pub end_ns: u64,
}

impl Window {
    /// A window opening `warmup` from now and lasting `length`.
    pub fn after(warmup: Duration, length: Duration) -> Window {
        let start_ns = now_ns() + duration_ns(warmup);
        Window {
            start_ns,
            end_ns: start_ns + duration_ns(length),
        }
    }

    /// Whether a reading falls inside the window.
    pub fn contains(&self, ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&ns)
    }

    /// The window's length in seconds.
    pub fn secs(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e9
    }
}

/// A duration in nanoseconds, saturating.
pub fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
