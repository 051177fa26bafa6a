//! A connection's write buffer, shared by the connection and its session.
//!
//! Both write packets into one `BytesMut` behind a short lock: the connection its replies
//! (CONNACK, PUBACK, SUBACK, ...), the session its deliveries. Whoever makes the buffer non-empty
//! casts one `Flush` to the connection, which swaps the buffer for an empty one and writes what it
//! took in one `write_all`. A delivery is therefore no actor message at all, and a burst is one
//! syscall: while the connection writes, the next burst piles up behind it (esockd's
//! `emqttd_client` sends with `port_command` for the same reason: no hop per packet).
//!
//! Bounded by bytes: past [`OUTBOX_LIMIT`] the session holds deliveries back in its own bounded
//! queue and the connection tells it, once the buffer has drained below half, to go on (the
//! `Drained` message). A subscriber that stops reading costs at most the bytes being written,
//! this buffer and the session's queue.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use parking_lot::Mutex;

use crate::codec::{self, Packet, ProtocolLevel};

/// Bytes buffered for one connection past which its session holds deliveries back.
pub const OUTBOX_LIMIT: usize = 64 * 1024;

/// A spare buffer larger than this is freed after a write instead of being kept for the next.
const KEEP_CAPACITY: usize = 2 * OUTBOX_LIMIT;

/// The shared write buffer (see the module docs).
#[derive(Debug, Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Set by the session when it starts holding back; the connection tells it when there is
    /// room again.
    blocked: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    buf: BytesMut,
    /// While the connection waits on its session for a reply it has to send first (CONNACK,
    /// SUBACK), the session's packets wait here, to follow that reply.
    held: Option<BytesMut>,
    flush_queued: bool,
}

impl Outbox {
    /// Appends `packet`'s frame (behind the reply being awaited, if any); returns true when the
    /// caller must cast a `Flush` (the buffer was empty and no flush is queued).
    pub fn push(&self, packet: &Packet) -> bool {
        self.push_with(|buf| codec::encode(packet, ProtocolLevel::V311, buf))
    }

    /// Appends whatever `encode` writes; as [`Outbox::push`].
    pub fn push_with(&self, encode: impl FnOnce(&mut BytesMut)) -> bool {
        let mut inner = self.inner.lock();
        if let Some(held) = &mut inner.held {
            encode(held);
            return false;
        }
        encode(&mut inner.buf);
        !std::mem::replace(&mut inner.flush_queued, true)
    }

    /// The connection is about to ask its session for something whose reply must reach the
    /// client before anything the session sends meanwhile [MQTT-3.3.1-6]: hold those back.
    pub fn hold(&self) {
        self.inner.lock().held.get_or_insert_with(BytesMut::new);
    }

    /// The connection's own packet: goes first, then what was held back. As [`Outbox::push`].
    pub fn reply(&self, packet: &Packet) -> bool {
        let mut inner = self.inner.lock();
        codec::encode(packet, ProtocolLevel::V311, &mut inner.buf);
        if let Some(held) = inner.held.take() {
            inner.buf.unsplit(held);
        }
        !std::mem::replace(&mut inner.flush_queued, true)
    }

    /// A flush could not be queued (the connection is gone): the next push tries again.
    pub fn flush_failed(&self) {
        self.inner.lock().flush_queued = false;
    }

    /// Whether the session must hold back (and marks it so, to be told when to resume).
    pub fn full(&self) -> bool {
        let inner = self.inner.lock();
        let full = inner.buf.len() + inner.held.as_ref().map_or(0, BytesMut::len) >= OUTBOX_LIMIT;
        drop(inner);
        if full {
            self.blocked.store(true, Ordering::Release);
        }
        full
    }

    /// Takes what is buffered, leaving `spare` (emptied) in its place; the next push queues a
    /// flush again.
    pub fn take(&self, spare: &mut BytesMut) {
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            *spare = BytesMut::new();
        }
        let mut inner = self.inner.lock();
        std::mem::swap(&mut inner.buf, spare);
        inner.flush_queued = false;
    }

    /// After a write: true when a held-back session should resume (once per hold).
    pub fn resume(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
            && self.inner.lock().buf.len() <= OUTBOX_LIMIT / 2
            && self.blocked.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Ack, PacketId};

    fn ack(n: u16) -> Packet {
        Packet::PubAck(Ack::new(PacketId::new(n).unwrap()))
    }

    #[test]
    fn only_the_first_push_of_a_burst_asks_for_a_flush() {
        let outbox = Outbox::default();
        assert!(outbox.push(&ack(1)));
        assert!(!outbox.push(&ack(2)));
        let mut taken = BytesMut::new();
        outbox.take(&mut taken);
        assert_eq!(taken.len(), 8, "both acks in one write");
        assert!(outbox.push(&ack(3)), "after a take the next push flushes again");
    }

    #[test]
    fn a_reply_goes_before_what_was_held_back() {
        let outbox = Outbox::default();
        outbox.hold();
        assert!(!outbox.push(&ack(1)), "held: no flush yet");
        assert!(outbox.reply(&Packet::PingResp));
        assert!(
            !outbox.push(&ack(2)),
            "released: into the buffer, whose flush is asked for"
        );
        let mut taken = BytesMut::new();
        outbox.take(&mut taken);
        assert_eq!(&taken[..6], &[0xd0, 0, 0x40, 2, 0, 1][..]);
        assert_eq!(taken.len(), 10);
    }

    #[test]
    fn a_failed_flush_is_asked_for_again() {
        let outbox = Outbox::default();
        assert!(outbox.push(&ack(1)));
        outbox.flush_failed();
        assert!(outbox.push(&ack(2)));
    }

    #[test]
    fn full_past_the_limit_and_resumes_once_below_half() {
        let outbox = Outbox::default();
        assert!(!outbox.resume(), "nobody held back");
        while !outbox.full() {
            outbox.push_with(|b| b.extend_from_slice(&[0; 1024]));
        }
        assert!(!outbox.resume(), "still full");
        let mut taken = BytesMut::new();
        outbox.take(&mut taken);
        assert!(taken.len() >= OUTBOX_LIMIT);
        assert!(outbox.resume());
        assert!(!outbox.resume(), "told once");
    }

    #[test]
    fn a_huge_spare_is_not_kept() {
        let outbox = Outbox::default();
        let mut spare = BytesMut::with_capacity(KEEP_CAPACITY + 1);
        outbox.take(&mut spare);
        outbox.take(&mut spare);
        assert!(spare.capacity() <= KEEP_CAPACITY);
    }
}
