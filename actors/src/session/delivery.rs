//! How a session sends: routed messages to the outbox, through the inflight window and the
//! queue, and the retry pass.
//!
//! A message is written at once when a connection is attached, its outbox has room, nothing is
//! queued ahead of it and (for QoS 1/2) the window has room; otherwise it is queued, so order per
//! publisher is kept across QoS levels and a subscriber that stops reading holds at most the
//! outbox and the bounded queue.
//!
//! MQTT 5 adds per-delivery work, all here and none of it for a 3.1.1 client: a message whose
//! expiry passed while it waited is dropped [MQTT-3.3.2-5] and the others carry what is left of
//! their interval [MQTT-3.3.2-6]; the subscription identifiers and a topic alias are added; and
//! a PUBLISH larger than the client's Maximum Packet Size is not sent to it, but dropped and
//! counted [MQTT-3.1.2-25].

use std::sync::Arc;

use ractor::ActorRef;
use tokio::time::Instant;

use crate::codec::{Ack, Packet, PacketId, PacketType, Properties, ProtocolLevel, PublishView, QoS};
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::publish::Deliveries;
use crate::session::aliases::Alias;
use crate::session::inflight::{InflightEntry, Stage};
use crate::session::mqueue::Outgoing;
use crate::session::{SessionMsg, SessionState};
use crate::timeouts;

impl SessionState {
    /// Messages from the publish path (each counted in the load when it was cast).
    pub(super) fn routed(&mut self, deliveries: Deliveries) {
        match deliveries {
            Deliveries::One(msg, qos, seq) => self.routed_one(msg, qos, seq),
            Deliveries::Many(msgs) => {
                for (msg, qos, seq) in msgs {
                    self.routed_one(msg, qos, seq);
                }
            }
        }
    }

    fn routed_one(&mut self, msg: Arc<Message>, sub_qos: QoS, seq: u64) {
        self.reg.handle.load.handled();
        if msg.v5.is_some() && msg.expired(Instant::now()) {
            Metrics::add(&self.deps.metrics.messages_expired, 1);
            self.forget(seq);
            return;
        }
        let out = if self.with_options {
            match self.matched(msg) {
                Some(out) => out,
                None => return self.forget(seq),
            }
        } else {
            let qos = msg.qos.min(sub_qos);
            Outgoing::plain(msg, qos)
        };
        self.deliver(Outgoing { seq, ..out });
    }

    /// Sends now if it may (see the module docs), or queues.
    pub(super) fn deliver(&mut self, out: Outgoing) {
        let ready = !self.outbox.full()
            && self.mqueue.is_empty()
            && (out.qos == QoS::AtMostOnce || self.inflight.has_room());
        if ready {
            self.send_now(out);
        } else {
            for _ in 0..self.mqueue.push(out, !self.reg.handle.load.is_stalled()) {
                self.deps.metrics.mqueue_drop();
            }
            for seq in self.mqueue.take_dropped_seqs() {
                self.forget(seq);
            }
            self.drain();
        }
    }

    /// Sends queued messages, oldest first, while the outbox and (for QoS 1/2) the window allow.
    pub(super) fn drain(&mut self) {
        while !self.outbox.full() {
            match self.mqueue.front() {
                Some(next) if next.qos == QoS::AtMostOnce || self.inflight.has_room() => {}
                _ => break,
            }
            if let Some(out) = self.mqueue.pop() {
                if out.msg.v5.is_some() && out.msg.expired(Instant::now()) {
                    // Expired while queued [MQTT-3.3.2-5].
                    Metrics::add(&self.deps.metrics.messages_expired, 1);
                    self.forget(out.seq);
                    continue;
                }
                self.send_now(out);
            }
        }
    }

    fn send_now(&mut self, out: Outgoing) {
        if out.qos == QoS::AtMostOnce {
            self.send(&out, None, false);
        } else {
            let pkid = self.inflight.next_id();
            if self.send(&out, Some(pkid), false) {
                self.note_sent(out.seq, pkid, Stage::Published);
                self.inflight.insert(pkid, out, Instant::now());
            } else {
                self.forget(out.seq);
            }
        }
    }

    /// Everything inflight again, in order: PUBLISH with DUP, or PUBREL past PUBREC (a takeover).
    pub(super) fn resend_inflight(&mut self) {
        let now = Instant::now();
        for entry in self.inflight.due(now, now) {
            self.resend(&entry);
        }
    }

    fn resend(&mut self, entry: &InflightEntry) {
        match entry.stage {
            Stage::Published => {
                self.send(&entry.out, Some(entry.pkid), true);
            }
            Stage::Released => self.write(&Packet::PubRel(Ack::new(entry.pkid))),
        }
    }

    /// Resends what waited longer than `retry_interval`, and drops QoS 2 receipts whose PUBREL
    /// never came within `await_rel_timeout`.
    pub(super) fn tick(&mut self) {
        let cfg = &self.deps.config;
        let (retry, await_rel) = (cfg.retry_interval, cfg.await_rel_timeout);
        let now = Instant::now();
        if self.outbox.attached() {
            if let Some(deadline) = now.checked_sub(retry) {
                for entry in self.inflight.due(deadline, now) {
                    self.resend(&entry);
                }
            }
        }
        for pkid in super::receipts::expire(&mut self.awaiting_rel, now, await_rel) {
            self.receipt_done(pkid);
        }
    }

    /// Schedules the next retry/expiry pass if one is owed and none is scheduled.
    pub(super) fn arm_tick(&mut self, myself: &ActorRef<SessionMsg>) {
        let owed = !self.inflight.is_empty() || !self.awaiting_rel.is_empty();
        if owed && !self.tick_armed {
            let every = timeouts::session_tick(self.deps.config.retry_interval);
            myself.send_after(every, || SessionMsg::Tick);
            self.tick_armed = true;
        }
    }

    /// Writes `out` as a PUBLISH, counted as a packet and a message sent; false when it is
    /// dropped: (MQTT 5) larger than the client accepts. With no client attached nothing is
    /// written, and a QoS 1/2 message stays inflight, to be resent when one attaches.
    fn send(&mut self, out: &Outgoing, pkid: Option<PacketId>, dup: bool) -> bool {
        if !self.outbox.attached() {
            return true;
        }
        let msg = &out.msg;
        let level = self.outbox.level();
        let mut alias = Alias::None;
        let properties = (level == ProtocolLevel::V5)
            .then(|| self.v5_properties(out, &mut alias))
            .flatten();
        let view = PublishView {
            dup,
            qos: out.qos,
            retain: out.retain,
            topic: if matches!(alias, Alias::Use(_)) {
                ""
            } else {
                &msg.topic
            },
            pkid,
            payload: &msg.payload,
            properties: properties.as_ref(),
        };
        if let Some(max) = self.v5.as_ref().and_then(|v5| v5.limits.maximum_packet_size) {
            if view.frame_len(level) > max as usize {
                if let (Alias::Set(_), Some(v5)) = (alias, &mut self.v5) {
                    v5.aliases.unset(&msg.topic);
                }
                tracing::debug!(client_id = %self.reg.handle.client_id, %max, "PUBLISH larger than the client's Maximum Packet Size: dropped");
                Metrics::add(&self.deps.metrics.messages_too_large, 1);
                return false;
            }
        }
        self.outbox.push_publish(&view);
        let metrics = &self.deps.metrics;
        metrics.packet_sent(PacketType::Publish);
        Metrics::add(&metrics.messages_sent, 1);
        true
    }

    /// The properties of `out`'s PUBLISH to an MQTT 5 client (see the module docs), if it has
    /// any; `alias` says how the topic is named.
    fn v5_properties(&mut self, out: &Outgoing, alias: &mut Alias) -> Option<Properties> {
        *alias = match &mut self.v5 {
            Some(v5) => v5.aliases.for_topic(&out.msg.topic),
            None => Alias::None,
        };
        if out.msg.v5.is_none() && out.sub_ids.is_none() && *alias == Alias::None {
            return None;
        }
        let mut p = out.msg.properties().cloned().unwrap_or_default();
        p.message_expiry_interval = out.msg.remaining_expiry(Instant::now());
        if let Some(ids) = &out.sub_ids {
            p.subscription_ids = ids.to_vec();
        }
        if let Alias::Set(a) | Alias::Use(a) = *alias {
            p.topic_alias = Some(a);
        }
        Some(p)
    }

    /// Writes a packet to the client, counted as a packet sent.
    pub(super) fn write(&mut self, packet: &Packet) {
        if self.outbox.attached() {
            self.outbox.push(packet);
            self.deps.metrics.packet_sent(packet.packet_type());
        }
    }
}
