//! The frame timeout of a connection's reader: a packet that has started must finish.
//!
//! Keepalive and the connect timeout bound the silence between packets; with keepalive 0
//! nothing bounded a peer that sends part of a frame and then stalls, or trickles a byte at a
//! time, holding a connection and its buffer forever. `mqtt.frame_timeout` is that bound: from
//! the first byte of a frame the peer has this much time to send the rest, whatever its
//! keepalive.
//!
//! Only time spent waiting on the socket counts. While the reader itself waits (for read
//! credit when the connection is busy, or on the rate limit's token bucket) the peer is not to
//! blame, so a [`FrameClock`] is a budget spent by reads, not a wall-clock deadline. A completed
//! frame refills it; waiting with nothing of a frame buffered (an idle connection) spends
//! nothing, since that is keepalive's business.

use std::time::Duration;

use tokio::time::Instant;

/// What is left of the current frame's time.
#[derive(Debug, Clone, Copy)]
pub struct FrameClock {
    timeout: Duration,
    left: Duration,
}

/// The deadline of the next read and which limit it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadDeadline {
    /// When the read gives up.
    pub at: Instant,
    /// Whether it is the frame timeout (rather than the connect timeout or keepalive).
    pub frame: bool,
}

impl FrameClock {
    /// A clock giving each frame `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            left: timeout,
        }
    }

    /// A frame was decoded: the next one gets the whole timeout.
    pub fn completed(&mut self) {
        self.left = self.timeout;
    }

    /// The deadline of a read starting `now`: the earlier of `other` (connect timeout or
    /// keepalive) and, when `partial` bytes of a frame are buffered, what is left of the
    /// frame's time.
    pub fn deadline(&self, partial: bool, now: Instant, other: Option<Instant>) -> Option<ReadDeadline> {
        let frame = partial.then(|| ReadDeadline {
            at: now + self.left,
            frame: true,
        });
        let other = other.map(|at| ReadDeadline { at, frame: false });
        match (frame, other) {
            (Some(f), Some(o)) => Some(if f.at < o.at { f } else { o }),
            (f, o) => f.or(o),
        }
    }

    /// A read that began with `partial` bytes of a frame buffered took `waited`: spend it.
    pub fn waited(&mut self, partial: bool, waited: Duration) {
        if partial {
            self.left = self.left.saturating_sub(waited);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn no_deadline_of_its_own_without_a_partial_frame() {
        let clock = FrameClock::new(SECOND);
        let now = Instant::now();
        assert_eq!(clock.deadline(false, now, None), None);
        let keepalive = now + 5 * SECOND;
        assert_eq!(
            clock.deadline(false, now, Some(keepalive)),
            Some(ReadDeadline {
                at: keepalive,
                frame: false
            })
        );
    }

    #[test]
    fn a_partial_frame_gets_the_timeout_and_the_earlier_limit_wins() {
        let clock = FrameClock::new(SECOND);
        let now = Instant::now();
        let frame = ReadDeadline {
            at: now + SECOND,
            frame: true,
        };
        assert_eq!(clock.deadline(true, now, None), Some(frame));
        assert_eq!(clock.deadline(true, now, Some(now + 5 * SECOND)), Some(frame));
        let connect = now + SECOND / 2;
        assert_eq!(
            clock.deadline(true, now, Some(connect)),
            Some(ReadDeadline {
                at: connect,
                frame: false
            })
        );
    }

    #[test]
    fn a_trickle_spends_the_budget_and_a_completed_frame_refills_it() {
        let mut clock = FrameClock::new(SECOND);
        let now = Instant::now();
        // Four reads of 200 ms each, every one bringing a byte but not the whole frame.
        for _ in 0..4 {
            clock.waited(true, SECOND / 5);
        }
        assert_eq!(
            clock.deadline(true, now, None).map(|d| d.at),
            Some(now + SECOND / 5)
        );
        clock.waited(true, SECOND);
        assert_eq!(clock.deadline(true, now, None).map(|d| d.at), Some(now));
        clock.completed();
        assert_eq!(clock.deadline(true, now, None).map(|d| d.at), Some(now + SECOND));
    }

    #[test]
    fn waiting_with_nothing_started_spends_nothing() {
        let mut clock = FrameClock::new(SECOND);
        clock.waited(false, 10 * SECOND);
        let now = Instant::now();
        assert_eq!(clock.deadline(true, now, None).map(|d| d.at), Some(now + SECOND));
    }
}
