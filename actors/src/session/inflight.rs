//! A session's inflight window (emqttd_inflight): QoS 1 and 2 messages sent to the client and not
//! yet acknowledged, in send order, at most `session.max_inflight` of them.
//!
//! Each holds a packet id no other entry uses, its stage (PUBLISH sent, or PUBREL sent after
//! PUBREC) and when it was last sent, for the retry pass and for a takeover's resend with DUP.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::codec::PacketId;
use crate::session::mqueue::Outgoing;

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
    /// The window: the smaller of `configured` and the client's Receive Maximum.
    max: u16,
    /// `session.max_inflight`.
    configured: u16,
    entries: VecDeque<InflightEntry>,
    next: PacketId,
}

impl Inflight {
    /// A window of `max` entries (at least 1).
    pub fn new(max: u16) -> Self {
        Self {
            max: max.max(1),
            configured: max.max(1),
            entries: VecDeque::new(),
            next: PacketId::MIN,
        }
    }

    /// Narrows the window to a client's Receive Maximum [MQTT-3.3.4-9] (or widens it back up to
    /// `session.max_inflight` for a new client). Entries past a narrower window stay until
    /// acknowledged; nothing new is sent until the window has room.
    pub fn set_window(&mut self, receive_maximum: u16) {
        self.max = self.configured.min(receive_maximum).max(1);
    }

    /// Whether another message fits.
    pub fn has_room(&self) -> bool {
        self.entries.len() < usize::from(self.max)
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
        let pkid = self.next_id();
        self.insert(pkid, out, now);
        pkid
    }

    /// The packet id the next entry gets: the next one not in use.
    pub fn next_id(&mut self) -> PacketId {
        let mut pkid = self.next;
        while self.entries.iter().any(|e| e.pkid == pkid) {
            pkid = pkid.wrapping_next();
        }
        self.next = pkid;
        pkid
    }

    /// Adds `out` under `pkid`, which [`Inflight::next_id`] gave.
    pub fn insert(&mut self, pkid: PacketId, out: Outgoing, now: Instant) {
        self.next = pkid.wrapping_next();
        self.entries.push_back(InflightEntry {
            pkid,
            out,
            stage: Stage::Published,
            sent_at: now,
        });
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. Returns its store sequence
    /// number (0: not stored) if it was inflight.
    pub fn complete(&mut self, pkid: PacketId) -> Option<u64> {
        // Clients acknowledge in order [MQTT-4.6.0-2], so the oldest entry is the usual match.
        if self.entries.front().is_some_and(|e| e.pkid == pkid) {
            return self.entries.pop_front().map(|e| e.out.seq);
        }
        let at = self.entries.iter().position(|e| e.pkid == pkid)?;
        self.entries.remove(at).map(|e| e.out.seq)
    }

    /// PUBREC: the QoS 2 message moves to waiting for PUBCOMP. Returns its store sequence
    /// number (0: not stored) if it was inflight.
    pub fn received(&mut self, pkid: PacketId, now: Instant) -> Option<u64> {
        let entry = self.entries.iter_mut().find(|e| e.pkid == pkid)?;
        entry.stage = Stage::Released;
        entry.sent_at = now;
        Some(entry.out.seq)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::QoS;
    use crate::session::mqueue::test_outgoing as out;

    #[test]
    fn inflight_window_ids_acks_and_retries() {
        let t0 = Instant::now();
        let mut w = Inflight::new(2);
        let a = w.push(out(0, QoS::AtLeastOnce), t0);
        let b = w.push(out(1, QoS::ExactlyOnce), t0);
        assert_ne!(a, b);
        assert!(!w.has_room());
        assert!(w.received(b, t0).is_some());
        assert_eq!(w.iter().nth(1).unwrap().stage, Stage::Released);
        assert!(w.complete(a).is_some());
        assert!(w.complete(a).is_none(), "a second PUBACK is ignored");
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
