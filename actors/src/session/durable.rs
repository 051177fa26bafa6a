//! A persistent session in the store ([`crate::store`]): what it writes as it goes, and how it
//! comes back from what was written.
//!
//! A session is durable when there is a store and it outlives its connection (3.1.1 clean
//! session 0, MQTT 5 Session Expiry Interval > 0). Then its record (expiry, subscriptions,
//! will, when its client left) is written whenever one of those changes; the publish path
//! stores each QoS 1/2 message routed to it ([`crate::routing::publish`]); and the session
//! writes what happens to them: a packet id and stage when one is sent (deleted with the
//! message on PUBACK/PUBCOMP), a delete for one it drops (expired, queue full, too large for
//! the client), a receipt's delete on PUBREL. Its writes are gathered while it handles a
//! message and sent at the end of it; SUBSCRIBE and UNSUBSCRIBE wait for them to be durable
//! before their acknowledgement. When it ends (expiry, a clean start discarding it, a client
//! that set its expiry to 0) everything it stored goes; when it is killed or the broker stops,
//! nothing does: that is what it comes back from.
//!
//! Coming back ([`SessionState::restore`]): its subscriptions are routed again, its messages
//! queued in the order they were routed, those that were inflight put back in the window with
//! their packet ids (resent with DUP, or PUBREL past PUBREC, when a client attaches
//! [MQTT-4.4.0-1]), its receipts kept, and its expiry and delayed will count on from when its
//! client left.

use std::time::Duration;

use ractor::ActorRef;
use tokio::time::Instant;

use crate::codec::{PacketId, QoS, SubOptions};
use crate::session::inflight::Stage;
use crate::session::mqueue::Outgoing;
use crate::session::{SessionMsg, SessionState};
use crate::store::records::{MessageRecord, SessionRecord, StoredSub};
use crate::store::{keys, unix_ms, Op, SessionImage, Store, Table};

impl SessionState {
    fn store(&self) -> &Store {
        self.deps.publisher.store()
    }

    /// Whether this session is stored.
    pub(super) fn durable(&self) -> bool {
        self.reg.handle.load.is_durable()
    }

    /// Decides whether the session is stored from its expiry, and writes its record if so; a
    /// session that stops being stored (its client set expiry 0) is removed from the store.
    pub(super) fn set_durable(&mut self) {
        let durable = self.store().enabled() && !self.expiry.is_zero();
        if self.durable() && !durable {
            self.ops.push(Op::DropSession(self.reg.handle.client_id.clone()));
        }
        self.reg.handle.load.set_durable(durable);
        self.save();
    }

    /// Writes the session's record, if it is stored.
    pub(super) fn save(&mut self) {
        if !self.durable() {
            return;
        }
        let record = self.record();
        let key = bytes::Bytes::copy_from_slice(self.reg.handle.client_id.as_bytes());
        self.ops.push(Op::Put(Table::Sessions, key, record.encode()));
    }

    fn record(&self) -> SessionRecord {
        let subs = self
            .reg
            .subscriptions
            .iter()
            .map(|(filter, &options)| StoredSub {
                filter: filter.clone(),
                options,
                id: self.sub_ids.get(filter).copied(),
            })
            .collect();
        SessionRecord {
            expiry_secs: self.expiry.as_secs(),
            since: self.since,
            created_at: self.created_at,
            level: self.outbox.level() as u8,
            subs,
            will: self
                .will
                .as_ref()
                .map(|w| MessageRecord::encode(w, w.qos).to_vec()),
            will_delay_secs: self.v5.as_ref().map_or(0, |v5| v5.will_delay.as_secs()),
            detached_at_ms: if self.conn.is_some() { 0 } else { unix_ms() },
        }
    }

    /// The session ends: everything it stored goes.
    pub(super) fn end_stored(&mut self) {
        if self.durable() {
            self.reg.handle.load.set_durable(false);
            self.ops.push(Op::DropSession(self.reg.handle.client_id.clone()));
        }
    }

    /// A stored message is done with (acknowledged, dropped, expired): deleted.
    pub(super) fn forget(&mut self, seq: u64) {
        if seq == 0 {
            return;
        }
        let key = keys::message(&self.reg.handle.client_id, seq);
        self.ops.push(Op::Delete(Table::Inflight, key.clone()));
        self.ops.push(Op::Delete(Table::Messages, key));
    }

    /// A stored message was sent under `pkid` (first time: a new row) or PUBREL was sent for it.
    pub(super) fn note_sent(&mut self, seq: u64, pkid: PacketId, stage: Stage) {
        if seq == 0 {
            return;
        }
        let key = keys::message(&self.reg.handle.client_id, seq);
        let value = crate::store::encode_state(pkid.get(), stage == Stage::Released);
        self.ops.push(match stage {
            Stage::Published => Op::Insert(Table::Inflight, key, value),
            Stage::Released => Op::Put(Table::Inflight, key, value),
        });
    }

    /// A receipt is done (PUBREL, or it timed out).
    pub(super) fn receipt_done(&mut self, pkid: PacketId) {
        if self.durable() {
            let key = keys::receipt(&self.reg.handle.client_id, pkid.get());
            self.ops.push(Op::Delete(Table::Receipts, key));
        }
    }

    /// Sends what this message wrote to the store, without waiting.
    pub(super) fn flush_store(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.deps.publisher.store().send(ops);
    }

    /// Sends what this message wrote and waits until it is durable (before a SUBACK).
    pub(super) async fn store_durable(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        if let Err(e) = self.deps.publisher.store().barrier(ops).await {
            tracing::warn!(client_id = %self.reg.handle.client_id, error = %e, "session state not stored");
        }
    }

    /// Comes back from the store (see the module docs); the session is detached.
    pub(super) async fn restore(&mut self, myself: &ActorRef<SessionMsg>, image: SessionImage) {
        let mut record = image.record;
        self.since = record.since;
        self.created_at = record.created_at;
        self.expiry = Duration::from_secs(record.expiry_secs);
        self.reg.handle.load.set_durable(self.store().enabled());
        for sub in std::mem::take(&mut record.subs) {
            let options = SubOptions::from_byte(sub.options);
            let filter = sub.filter;
            if self.route(&filter, options.qos).await {
                if let Some(id) = sub.id {
                    self.sub_ids.insert(filter.clone(), id);
                }
                self.reg.subscriptions.insert(filter, sub.options);
            }
        }
        self.note_options();
        let now = Instant::now();
        for stored in image.messages {
            let out = match self.with_options {
                true => self.matched(stored.msg),
                false => {
                    let qos = stored.msg.qos.min(stored.qos);
                    Some(Outgoing::plain(stored.msg, qos))
                }
            };
            let Some(mut out) = out.filter(|o| o.qos != QoS::AtMostOnce) else {
                self.forget(stored.seq);
                continue;
            };
            out.seq = stored.seq;
            match stored
                .inflight
                .and_then(|(pkid, released)| Some((PacketId::new(pkid)?, released)))
            {
                Some((pkid, released)) => {
                    self.inflight.insert(pkid, out, now);
                    if released {
                        self.inflight.received(pkid, now);
                    }
                }
                None => {
                    self.mqueue.push(out, true);
                }
            }
        }
        for pkid in image.receipts.into_iter().filter_map(PacketId::new) {
            self.awaiting_rel.insert(pkid, now);
        }
        self.will = record.will();
        if record.will_delay_secs > 0 {
            let v5 = self.v5.get_or_insert_with(Default::default);
            v5.will_delay = Duration::from_secs(record.will_delay_secs);
        }
        // Its client left when the record says, or (connected when the broker stopped) now.
        let left_ms = match record.detached_at_ms {
            0 => unix_ms(),
            at => at,
        };
        let away = Duration::from_millis(unix_ms().saturating_sub(left_ms));
        self.away_since(myself, away);
        if record.detached_at_ms == 0 {
            // Its client was connected when the broker stopped: it left now. (Otherwise the
            // record is unchanged: not written again, so a restart of many sessions is cheap.)
            self.save();
        }
        tracing::debug!(client_id = %self.reg.handle.client_id, queued = self.mqueue.len(), inflight = self.inflight.len(), "session restored from the store");
    }
}
