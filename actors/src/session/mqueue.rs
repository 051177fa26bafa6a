//! A session's message queue (emqttd_mqueue): messages waiting for the inflight window
//! ([`crate::session::inflight`]), for room in the socket's outbox, or for the client to come back.
//!
//! Bounded at `session.max_mqueue_len`, dropping the OLDEST message when full (emqttd's default
//! policy), and counting every drop. QoS 0 messages are queued only if
//! `session.mqueue_store_qos0`. Per publisher, order is kept: the queue is FIFO and the window is
//! drained from it in order.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::QoS;
use crate::message::Message;

/// A message to deliver at a QoS (already the minimum of publish and subscription QoS).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message.
    pub msg: Arc<Message>,
    /// Delivery QoS.
    pub qos: QoS,
    /// Whether it is sent with RETAIN set: a retained message sent on subscribe, or (MQTT 5) one
    /// routed through a Retain As Published subscription.
    pub retain: bool,
    /// MQTT 5: the identifiers of the subscriptions it matched [MQTT-3.3.4-3].
    pub sub_ids: Option<Box<[u32]>>,
    /// Its sequence number in the store (0: not stored), deleted there once it is done.
    pub seq: u64,
}

impl Outgoing {
    /// `msg` at `qos`, not retained, no subscription identifiers.
    pub fn plain(msg: Arc<Message>, qos: QoS) -> Self {
        Self {
            msg,
            qos,
            retain: false,
            sub_ids: None,
            seq: 0,
        }
    }
}

/// The message queue.
#[derive(Debug)]
pub struct MQueue {
    max_len: usize,
    store_qos0: bool,
    queue: VecDeque<Outgoing>,
    dropped: u64,
    /// Store sequence numbers of dropped messages, for the session to delete.
    dropped_seqs: Vec<u64>,
}

impl MQueue {
    /// A queue of at most `max_len` (0 means unbounded, as emqttd).
    pub fn new(max_len: usize, store_qos0: bool) -> Self {
        Self {
            max_len,
            store_qos0,
            queue: VecDeque::new(),
            dropped: 0,
            dropped_seqs: Vec::new(),
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
            if let Some(old) = self.queue.pop_front().filter(|o| o.seq != 0) {
                self.dropped_seqs.push(old.seq);
            }
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

    /// The store sequence numbers of messages dropped since the last call.
    pub fn take_dropped_seqs(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.dropped_seqs)
    }
}

/// A one-byte message `n` to topic `t` at `qos`, for the session's tests.
#[cfg(test)]
pub(crate) fn test_outgoing(n: u8, qos: QoS) -> Outgoing {
    let msg = Message::new(
        crate::codec::TopicName::new("t").expect("a valid topic"),
        vec![n].into(),
        qos,
        false,
        Arc::from("c"),
    );
    Outgoing::plain(Arc::new(msg), qos)
}

#[cfg(test)]
mod tests {
    use super::test_outgoing as out;
    use super::*;

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
}
