//! How a connection's close is logged, so that many alike do not flood the log.
//!
//! One close that is not a clean goodbye (a protocol error, a timeout, a kick) is worth a line
//! at info. Two thousand silent connections cut by the connect timeout are not worth two
//! thousand: they are one event. So closes are grouped by the kind of their reason (the text
//! before the first `": "`, which never holds peer data: `protocol error`, `no CONNECT within
//! connect_timeout`), and per kind, per [`WINDOW`]:
//!
//! - the first close is logged at info in full (peer, client id, reason), as before;
//! - the others are logged at debug only, and counted;
//! - when the window ends, one info line gives the count (`connections closed`, `reason`,
//!   `count`, `window`), if there was any.
//!
//! So every close is still there at debug, and info gets at most two lines per kind per window.
//! The window's end is a timer task per kind that has a count, so a lone burst is summarised
//! without waiting for the next close. The table holds at most [`MAX_KINDS`] kinds; past that a
//! close is logged at info unsummarised (reasons come from code, so this never happens unless
//! one grows an unbounded prefix).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// How long one kind's closes are counted before they are summarised.
pub const WINDOW: Duration = Duration::from_secs(10);

/// The most kinds counted at once.
pub const MAX_KINDS: usize = 64;

/// The broker's close log.
static CLOSES: LazyLock<Arc<CloseLog>> = LazyLock::new(|| Arc::new(CloseLog::new(WINDOW)));

/// Logs the close of the connection from `peer` (`client_id` empty before CONNECT) for
/// `reason`, summarising repeats as the module says.
pub fn closed(peer: SocketAddr, client_id: &str, reason: &str) {
    match CLOSES.record(kind(reason)) {
        Record::First | Record::Untracked => {
            tracing::info!(%peer, %client_id, reason, "connection closed");
        }
        Record::Counted { schedule } => {
            tracing::debug!(%peer, %client_id, reason, "connection closed");
            if let Some(at) = schedule {
                CLOSES.summarise_at(kind(reason).to_string(), at);
            }
        }
    }
}

/// The kind of a close reason: the text before the first `": "`.
pub fn kind(reason: &str) -> &str {
    reason.split_once(": ").map_or(reason, |(kind, _)| kind)
}

/// What [`CloseLog::record`] decided for one close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The first of its kind in a window: log it in full.
    First,
    /// Counted for the summary; `schedule` is when the summary is due, if the caller must
    /// set the timer (the first count of the window).
    Counted {
        /// When to summarise, for the close that starts the count.
        schedule: Option<Instant>,
    },
    /// The table is full: log it in full, uncounted.
    Untracked,
}

/// Counts per kind of close reason.
pub struct CloseLog {
    window: Duration,
    kinds: Mutex<HashMap<String, Window>>,
}

/// One kind's current window.
#[derive(Debug)]
struct Window {
    /// When its first close was logged.
    opened: Instant,
    /// Closes since then, logged at debug only.
    counted: u64,
}

impl CloseLog {
    /// A log summarising over `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Records one close of `kind`, now.
    pub fn record(&self, kind: &str) -> Record {
        self.record_at(kind, Instant::now())
    }

    /// Records one close of `kind` at `now` (the clock is a parameter for the tests).
    pub fn record_at(&self, kind: &str, now: Instant) -> Record {
        let mut kinds = self.kinds.lock();
        let full = kinds.len() >= MAX_KINDS;
        match kinds.get_mut(kind) {
            // A window with a count stays open until its summary has been taken.
            Some(open) if open.counted > 0 || now < open.opened + self.window => {
                open.counted += 1;
                let schedule = (open.counted == 1).then_some(open.opened + self.window);
                Record::Counted { schedule }
            }
            Some(closed) => {
                closed.opened = now;
                Record::First
            }
            None if full => Record::Untracked,
            None => {
                kinds.insert(
                    kind.to_string(),
                    Window {
                        opened: now,
                        counted: 0,
                    },
                );
                Record::First
            }
        }
    }

    /// Takes the count of `kind`'s window, ending it: the next close of that kind is a
    /// [`Record::First`] again.
    pub fn take(&self, kind: &str) -> u64 {
        self.kinds.lock().remove(kind).map_or(0, |w| w.counted)
    }

    /// Logs `kind`'s summary at `at` (on a task, if a runtime is there to run it).
    fn summarise_at(self: &Arc<Self>, kind: String, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let log = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            let count = log.take(&kind);
            if count > 0 {
                tracing::info!(reason = %kind, count, window = ?log.window, "connections closed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_the_reason_before_its_detail() {
        assert_eq!(kind("protocol error: reserved packet type 0"), "protocol error");
        assert_eq!(
            kind("no CONNECT within connect_timeout"),
            "no CONNECT within connect_timeout"
        );
        assert_eq!(kind("socket error: connection reset"), "socket error");
    }

    #[test]
    fn the_first_of_a_kind_is_logged_the_rest_counted_until_the_window_ends() {
        let log = CloseLog::new(WINDOW);
        let start = Instant::now();
        assert_eq!(log.record_at("timeout", start), Record::First);
        assert_eq!(
            log.record_at("timeout", start),
            Record::Counted {
                schedule: Some(start + WINDOW)
            }
        );
        for _ in 0..1998 {
            assert_eq!(
                log.record_at("timeout", start),
                Record::Counted { schedule: None }
            );
        }
        // Another kind has its own window.
        assert_eq!(log.record_at("protocol error", start), Record::First);
        // The summary timer takes the count; the next close opens a new window.
        assert_eq!(log.take("timeout"), 1999);
        assert_eq!(log.record_at("timeout", start + WINDOW), Record::First);
        assert_eq!(log.take("protocol error"), 0);
    }

    #[test]
    fn a_lone_close_after_the_window_starts_a_new_one() {
        let log = CloseLog::new(WINDOW);
        let start = Instant::now();
        assert_eq!(log.record_at("kicked", start), Record::First);
        assert_eq!(
            log.record_at("kicked", start + WINDOW * 2),
            Record::First,
            "nothing counted: no summary owed"
        );
    }

    #[test]
    fn closes_after_the_window_join_a_summary_not_yet_taken() {
        let log = CloseLog::new(WINDOW);
        let start = Instant::now();
        assert_eq!(log.record_at("timeout", start), Record::First);
        assert!(matches!(log.record_at("timeout", start), Record::Counted { .. }));
        assert_eq!(
            log.record_at("timeout", start + WINDOW * 2),
            Record::Counted { schedule: None }
        );
        assert_eq!(log.take("timeout"), 2);
    }

    #[test]
    fn past_max_kinds_a_close_is_logged_in_full() {
        let log = CloseLog::new(WINDOW);
        for i in 0..MAX_KINDS {
            assert_eq!(log.record(&format!("kind {i}")), Record::First);
        }
        assert_eq!(log.record("one more"), Record::Untracked);
    }
}
