//! A session's load as its publishers see it, and the back-pressure it puts on them.
//!
//! Publishers cast deliveries to a session without waiting, so something must stop fast
//! publishers from burying a slower subscriber. The session's load is what it has not sent yet:
//! deliveries cast and not handled (its mailbox) plus its queue. Against
//! `session.max_mqueue_len` (the limit; 0 turns all of this off):
//! - past [`Load::high_water`] (half the limit) a publishing connection stops reading its socket,
//!   so TCP pushes back on the publisher, until the load falls to [`Load::low_water`]. Nothing
//!   is dropped meanwhile: the queue may pass its bound by what the publishers had already read
//!   (at most `READ_CREDIT` packets each), which is the price of losing nothing. Publishers go as
//!   fast as their slowest live subscriber, as with TCP itself (Mosquitto's single thread
//!   throttles them the same way, only without the bound).
//! - a session that stays over high water longer than `session.publisher_wait` is **stalled**:
//!   publishers stop waiting for it (one stuck subscriber must not stop a publisher's other
//!   subscribers for good) and it gets emqttd's policy: QoS 0 at the limit is dropped at the door,
//!   the queue drops its oldest, each drop counted. It is un-stalled once back under low water.
//!   A persistent session whose client is offline is treated the same way from the start.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The counts a session shares with publishers (see the module docs).
#[derive(Debug)]
pub struct Load {
    limit: usize,
    inbox: AtomicUsize,
    queued: AtomicUsize,
    stalled: AtomicBool,
    offline: AtomicBool,
    waiting: AtomicBool,
    room: Notify,
    dropped: AtomicU64,
    /// Its QoS 1/2 deliveries are stored before they are cast (a persistent session).
    durable: AtomicBool,
}

/// What the publish path may do with one more message for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Cast it.
    Yes,
    /// Cast it, and pause the publisher until the session has room.
    Pressure,
    /// Drop it (QoS 0 at a full session).
    Drop,
}

impl Load {
    /// The load of a session whose queue holds at most `limit` (0: unbounded, no pressure).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inbox: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            stalled: AtomicBool::new(false),
            offline: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            room: Notify::new(),
            dropped: AtomicU64::new(0),
            durable: AtomicBool::new(false),
        }
    }

    /// Deliveries not yet sent: cast and unhandled, plus queued.
    pub fn total(&self) -> usize {
        self.inbox.load(Ordering::Acquire) + self.queued.load(Ordering::Acquire)
    }

    /// Above this, QoS 1/2 publishers are paused.
    pub fn high_water(&self) -> usize {
        self.limit / 2
    }

    /// Paused publishers go on once the load is below this.
    pub fn low_water(&self) -> usize {
        self.limit / 4
    }

    /// Decides about one more message at `qos` (0, 1 or 2) and, unless it is dropped, counts it
    /// as cast.
    pub fn admit(&self, qos: u8) -> Admit {
        let mut admit = Admit::Yes;
        if self.limit > 0 {
            let total = self.total();
            if !self.is_stalled() {
                if total >= self.high_water() {
                    admit = Admit::Pressure;
                }
            } else if qos == 0 && total >= self.limit {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Admit::Drop;
            }
        }
        self.inbox.fetch_add(1, Ordering::AcqRel);
        admit
    }

    /// Deliveries counted as cast and not yet handled: the session skips writing its socket
    /// while more are on their way, so that a burst is one write (see
    /// [`crate::session::outbox`]). A publisher counts a delivery before it casts it and casts
    /// everything it counted before it waits on anything.
    pub fn in_mailbox(&self) -> usize {
        self.inbox.load(Ordering::Acquire)
    }

    /// Messages dropped at the door so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// `n` casts that were counted did not arrive (the session is gone).
    pub fn uncast(&self, n: usize) {
        let _ = self
            .inbox
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_sub(n))
            });
    }

    /// The session took one delivery out of its mailbox.
    pub fn handled(&self) {
        self.uncast(1);
    }

    /// The session's queue length now; wakes paused publishers once below low water.
    pub fn set_queued(&self, len: usize) {
        self.queued.store(len, Ordering::Release);
        if self.total() < self.low_water().max(1) {
            self.stalled.store(false, Ordering::Release);
            if self.waiting.swap(false, Ordering::AcqRel) {
                self.room.notify_waiters();
            }
        }
    }

    /// The session ended: nothing is owed any more, wake every waiter.
    pub fn close(&self) {
        self.inbox.store(0, Ordering::Release);
        self.set_queued(0);
        self.room.notify_waiters();
    }

    /// Waits until the load is below low water (or nobody is there to wait for).
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.store(true, Ordering::Release);
            if self.total() < self.low_water().max(1) || self.offline.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Whether publishers do not wait for this session (its queue drops instead): stalled, or
    /// no client is attached (a persistent session keeps the newest messages while offline).
    pub fn is_stalled(&self) -> bool {
        self.limit == 0 || self.stalled.load(Ordering::Acquire) || self.offline.load(Ordering::Acquire)
    }

    /// The session's client left (`true`) or came back: an offline session pauses nobody.
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::Release);
        if offline && self.waiting.swap(false, Ordering::AcqRel) {
            self.room.notify_waiters();
        }
    }

    /// Whether its QoS 1/2 deliveries are stored before they are cast.
    pub fn is_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire)
    }

    /// Makes its QoS 1/2 deliveries stored (a persistent session with a store) or not.
    pub fn set_durable(&self, durable: bool) {
        self.durable.store(durable, Ordering::Release);
    }

    /// Publishers waited too long: stop pausing them for this session until it recovers.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn unbounded_never_pushes_back() {
        let load = Load::new(0);
        for _ in 0..10_000 {
            assert_eq!(load.admit(0), Admit::Yes);
            assert_eq!(load.admit(1), Admit::Yes);
        }
    }

    #[test]
    fn only_a_stalled_session_drops_and_only_qos0_at_the_door() {
        let load = Load::new(8);
        for _ in 0..4 {
            assert_eq!(load.admit(0), Admit::Yes);
        }
        for _ in 0..6 {
            assert_eq!(load.admit(0), Admit::Pressure, "cast, with pressure");
        }
        load.stall();
        assert_eq!(load.admit(0), Admit::Drop);
        assert_eq!(load.dropped(), 1);
        assert_eq!(
            load.admit(1),
            Admit::Yes,
            "QoS 1 goes to the queue, which drops oldest"
        );
        assert_eq!(load.total(), 11);
    }

    #[test]
    fn pressure_from_high_water_until_stalled() {
        let load = Load::new(8);
        for _ in 0..4 {
            assert_eq!(load.admit(1), Admit::Yes);
        }
        assert_eq!(load.admit(1), Admit::Pressure);
        load.stall();
        assert_eq!(load.admit(1), Admit::Yes, "a stalled session pauses nobody");
        for _ in 0..6 {
            load.handled();
        }
        load.set_queued(0);
        assert_eq!(load.total(), 0);
        for _ in 0..4 {
            load.admit(2);
        }
        assert_eq!(load.admit(2), Admit::Pressure, "recovered: pressure again");
    }

    #[tokio::test]
    async fn a_waiter_wakes_once_below_low_water() {
        let load = Arc::new(Load::new(8));
        for _ in 0..2 {
            load.admit(1);
        }
        load.set_queued(4);
        let waiter = tokio::spawn({
            let load = load.clone();
            async move { load.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        load.handled();
        load.handled();
        load.set_queued(3);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "3 is not below low water (2)");
        load.set_queued(1);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[test]
    fn an_offline_session_pauses_nobody() {
        let load = Load::new(4);
        load.set_offline(true);
        for _ in 0..4 {
            assert_eq!(load.admit(1), Admit::Yes);
        }
        assert_eq!(load.admit(0), Admit::Drop);
        load.set_offline(false);
        assert_eq!(load.admit(1), Admit::Pressure);
    }

    #[tokio::test]
    async fn closing_wakes_waiters() {
        let load = Arc::new(Load::new(4));
        load.set_queued(10);
        let waiter = tokio::spawn({
            let load = load.clone();
            async move { load.room().await }
        });
        tokio::task::yield_now().await;
        load.close();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
