//! A session's outgoing state (emqttd_mqueue + emqttd_inflight): the inflight window of QoS 1/2
//! messages sent and not yet acknowledged, and the queue of messages waiting for the window or for
//! the client to come back.
//!
//! Both are bounded. The window holds at most `session.max_inflight`; the queue at most
//! `session.max_mqueue_len`, dropping the OLDEST message when full (emqttd's default policy), and
//! counts every drop. QoS 0 messages are queued only if `session.mqueue_store_qos0`.
//! Per publisher, order is kept: the queue is FIFO and the window is drained from it in order.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::time::Instant;

use crate::codec::{PacketId, QoS};
use crate::message::Message;

/// A message to deliver at a QoS (already the minimum of publish and subscription QoS).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message.
    pub msg: Arc<Message>,
    /// Delivery QoS.
    pub qos: QoS,
    /// Whether it is sent as a retained message (on subscribe).
    pub retain: bool,
}

/// Where an inflight message is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// QoS 1 sent, waiting for PUBACK; or QoS 2 sent, waiting for PUBREC.
    Published,
    /// QoS 2: PUBREC received and PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// One unacknowledged message.
#[derive(Debug, Clone)]
pub struct InflightEntry {
    /// Its packet id.
    pub pkid: PacketId,
    /// The message.
    pub out: Outgoing,
    /// Acknowledgement stage.
    pub stage: Stage,
    /// When it was last sent (for the retry interval).
    pub sent_at: Instant,
}

/// The inflight window, in send order.
#[derive(Debug)]
pub struct Inflight {
    max: usize,
    entries: VecDeque<InflightEntry>,
    next: PacketId,
}

impl Inflight {
    /// A window of `max` entries (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            entries: VecDeque::new(),
            next: PacketId::MIN,
        }
    }

    /// Whether another message fits.
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.max
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `out` under a fresh packet id not in use, and returns that id.
    pub fn push(&mut self, out: Outgoing, now: Instant) -> PacketId {
        let mut pkid = self.next;
        while self.entries.iter().any(|e| e.pkid == pkid) {
            pkid = pkid.wrapping_next();
        }
        self.next = pkid.wrapping_next();
        self.entries.push_back(InflightEntry {
            pkid,
            out,
            stage: Stage::Published,
            sent_at: now,
        });
        pkid
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. Returns whether it was inflight.
    pub fn complete(&mut self, pkid: PacketId) -> bool {
        // Clients acknowledge in order [MQTT-4.6.0-2], so the oldest entry is the usual match.
        if self.entries.front().is_some_and(|e| e.pkid == pkid) {
            self.entries.pop_front();
            return true;
        }
        match self.entries.iter().position(|e| e.pkid == pkid) {
            Some(at) => self.entries.remove(at).is_some(),
            None => false,
        }
    }

    /// PUBREC: the QoS 2 message moves to waiting for PUBCOMP. Returns whether it was inflight.
    pub fn received(&mut self, pkid: PacketId, now: Instant) -> bool {
        match self.entries.iter_mut().find(|e| e.pkid == pkid) {
            Some(entry) => {
                entry.stage = Stage::Released;
                entry.sent_at = now;
                true
            }
            None => false,
        }
    }

    /// Entries in send order (for a resend after a takeover).
    pub fn iter(&self) -> impl Iterator<Item = &InflightEntry> {
        self.entries.iter()
    }

    /// Entries sent before `deadline`, marked sent again at `now` (the retry pass).
    pub fn due(&mut self, deadline: Instant, now: Instant) -> Vec<InflightEntry> {
        let mut due = Vec::new();
        for entry in self.entries.iter_mut().filter(|e| e.sent_at <= deadline) {
            entry.sent_at = now;
            due.push(entry.clone());
        }
        due
    }
}

/// The message queue.
#[derive(Debug)]
pub struct MQueue {
    max_len: usize,
    store_qos0: bool,
    queue: VecDeque<Outgoing>,
    dropped: u64,
}

impl MQueue {
    /// A queue of at most `max_len` (0 means unbounded, as emqttd).
    pub fn new(max_len: usize, store_qos0: bool) -> Self {
        Self {
            max_len,
            store_qos0,
            queue: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Queues `out`; when full the oldest message is dropped, and returns how many were dropped
    /// (the new QoS 0 one when QoS 0 is not stored, or the oldest). With `hold` (the session
    /// can still hold its publishers back, see [`crate::routing::load`]) nothing is dropped: the queue may
    /// pass its bound by what publishers had in flight. Without it a QoS 0 message drops one, a
    /// QoS 1/2 message brings the queue back to its bound.
    pub fn push(&mut self, out: Outgoing, hold: bool) -> u64 {
        if out.qos == QoS::AtMostOnce && !self.store_qos0 {
            self.dropped += 1;
            return 1;
        }
        let mut dropped = 0;
        while self.max_len > 0 && !hold && self.queue.len() >= self.max_len {
            self.queue.pop_front();
            dropped += 1;
            if out.qos == QoS::AtMostOnce {
                break;
            }
        }
        self.dropped += dropped;
        self.queue.push_back(out);
        dropped
    }

    /// The oldest queued message, left in place.
    pub fn front(&self) -> Option<&Outgoing> {
        self.queue.front()
    }

    /// The oldest queued message.
    pub fn pop(&mut self) -> Option<Outgoing> {
        self.queue.pop_front()
    }

    /// Queued messages.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::TopicName;

    fn out(n: u8, qos: QoS) -> Outgoing {
        let msg = Message::new(
            TopicName::new("t").unwrap(),
            vec![n].into(),
            qos,
            false,
            Arc::from("c"),
        );
        Outgoing {
            msg: Arc::new(msg),
            qos,
            retain: false,
        }
    }

    #[test]
    fn mqueue_drops_the_oldest_when_full() {
        let mut q = MQueue::new(3, true);
        for n in 0..5 {
            q.push(out(n, QoS::AtLeastOnce), false);
        }
        let kept: Vec<u8> = std::iter::from_fn(|| q.pop()).map(|o| o.msg.payload[0]).collect();
        assert_eq!(kept, [2, 3, 4]);
        assert_eq!(q.dropped(), 2);
    }

    #[test]
    fn mqueue_skips_qos0_unless_stored() {
        let mut q = MQueue::new(3, false);
        assert_eq!(q.push(out(0, QoS::AtMostOnce), false), 1);
        assert!(q.is_empty());
        assert_eq!(q.push(out(1, QoS::AtLeastOnce), false), 0);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn held_messages_pass_the_bound_until_the_session_stalls() {
        let mut q = MQueue::new(3, true);
        for n in 0..6 {
            assert_eq!(q.push(out(n, QoS::AtLeastOnce), true), 0);
        }
        assert_eq!(q.len(), 6);
        assert_eq!(q.push(out(6, QoS::AtMostOnce), false), 1, "QoS 0 drops one");
        assert_eq!(
            q.push(out(7, QoS::ExactlyOnce), false),
            4,
            "stalled: back to the bound"
        );
        let kept: Vec<u8> = std::iter::from_fn(|| q.pop()).map(|o| o.msg.payload[0]).collect();
        assert_eq!(kept, [5, 6, 7]);
        assert_eq!(q.dropped(), 5);
    }

    #[test]
    fn inflight_window_ids_acks_and_retries() {
        let t0 = Instant::now();
        let mut w = Inflight::new(2);
        let a = w.push(out(0, QoS::AtLeastOnce), t0);
        let b = w.push(out(1, QoS::ExactlyOnce), t0);
        assert_ne!(a, b);
        assert!(!w.has_room());
        assert!(w.received(b, t0));
        assert_eq!(w.iter().nth(1).unwrap().stage, Stage::Released);
        assert!(w.complete(a));
        assert!(!w.complete(a), "a second PUBACK is ignored");
        assert!(w.has_room());
        let later = t0 + std::time::Duration::from_secs(30);
        assert_eq!(w.due(t0, later).len(), 1);
        assert!(w.due(t0, later).is_empty(), "retried entries are re-stamped");
    }

    #[test]
    fn packet_ids_skip_ids_in_use_after_wrapping() {
        let t0 = Instant::now();
        let mut w = Inflight::new(3);
        let first = w.push(out(0, QoS::AtLeastOnce), t0);
        for _ in 0..u16::MAX - 1 {
            let id = w.push(out(0, QoS::AtLeastOnce), t0);
            w.complete(id);
        }
        let wrapped = w.push(out(0, QoS::AtLeastOnce), t0);
        assert_ne!(wrapped, first, "an id still inflight is not reused");
    }
}
