//! The broker's counters and gauges (emqttd_metrics' counters).
//!
//! Counters are plain atomics bumped on the hot path by whoever sees the event (a connection's
//! reader counts the packets it decodes, a session those it writes), so counting never costs an
//! actor hop. The `metrics` worker ([`crate::observability::stats`]) keeps their maxima and
//! reads them out under emqttd's names.
//!
//! Packets are counted by type only through [`Metrics::packet_received`] and
//! [`Metrics::packet_sent`], which bump the total too, so the per-type figures always add up to
//! `packets/received` and `packets/sent` once every call site uses them.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::PacketType;

macro_rules! counters {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {
        /// The broker's counters; each is monotonic unless its doc says gauge.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $(#[$doc] pub $name: AtomicU64,)*
            /// Packets by type, bumped with `packets_received`/`packets_sent` by
            /// [`Metrics::packet_received`] and [`Metrics::packet_sent`].
            pub packets_by_type: PacketCounts,
        }

        /// A point-in-time copy of [`Metrics`]' scalar counters.
        #[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
        pub struct MetricsSnapshot {
            $(#[$doc] pub $name: u64,)*
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Bytes read from clients.
    bytes_received,
    /// Bytes written to clients.
    bytes_sent,
    /// MQTT packets decoded.
    packets_received,
    /// MQTT packets written.
    packets_sent,
    /// PUBLISH packets received from clients.
    messages_received,
    /// PUBLISH packets delivered to clients.
    messages_sent,
    /// Messages dropped: no subscriber, mqueue full, denied.
    messages_dropped,
    /// Gauge: live connections.
    connections,
    /// Highest `connections` seen.
    connections_max,
    /// Gauge: live sessions.
    sessions,
    /// Highest `sessions` seen.
    sessions_max,
    /// Connections closed for a protocol violation.
    protocol_errors,
    /// CONNECTs refused for bad credentials or anonymity (0x04, 0x05).
    auth_failures,
    /// Messages a session dropped because its mqueue was full (also in `messages_dropped`).
    mqueue_dropped,
    /// Messages that expired (MQTT 5 Message Expiry Interval) before they could be sent.
    messages_expired,
    /// PUBLISHes not sent to an MQTT 5 client larger than its Maximum Packet Size.
    messages_too_large,
    /// Highest number of distinct topic filters seen.
    topics_max,
    /// Highest number of subscriptions seen.
    subscriptions_max,
    /// Highest number of retained messages seen.
    retained_max,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Increments a gauge and raises its maximum.
    pub fn gauge_up(gauge: &AtomicU64, max: &AtomicU64) {
        let now = gauge.fetch_add(1, Ordering::Relaxed) + 1;
        max.fetch_max(now, Ordering::Relaxed);
    }

    /// Decrements a gauge, never below zero.
    pub fn gauge_down(gauge: &AtomicU64) {
        let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(1))
        });
    }

    /// Counts one packet decoded from a client: `packets_received` and its type's counter.
    /// Call it instead of bumping `packets_received` directly, or the total counts twice.
    pub fn packet_received(&self, kind: PacketType) {
        Self::add(&self.packets_received, 1);
        self.packets_by_type.bump(&self.packets_by_type.received, kind);
    }

    /// Counts one packet written to a client: `packets_sent` and its type's counter.
    /// Call it instead of bumping `packets_sent` directly, or the total counts twice.
    pub fn packet_sent(&self, kind: PacketType) {
        Self::add(&self.packets_sent, 1);
        self.packets_by_type.bump(&self.packets_by_type.sent, kind);
    }

    /// Counts one message a session dropped from its full mqueue: `mqueue_dropped` and
    /// `messages_dropped`. Call it instead of bumping `messages_dropped` for that case.
    pub fn mqueue_drop(&self) {
        Self::add(&self.mqueue_dropped, 1);
        Self::add(&self.messages_dropped, 1);
    }
}

/// Packets by MQTT packet type, each direction indexed by the type's number (1 to 14).
#[derive(Debug, Default)]
pub struct PacketCounts {
    received: [AtomicU64; 16],
    sent: [AtomicU64; 16],
}

impl PacketCounts {
    fn bump(&self, counters: &[AtomicU64; 16], kind: PacketType) {
        // A packet type's number is 1 to 14, so the lookup always finds a counter.
        if let Some(counter) = counters.get(kind as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn load(counters: &[AtomicU64; 16], kind: PacketType) -> u64 {
        counters
            .get(kind as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Packets of `kind` received from clients.
    pub fn received(&self, kind: PacketType) -> u64 {
        Self::load(&self.received, kind)
    }

    /// Packets of `kind` sent to clients.
    pub fn sent(&self, kind: PacketType) -> u64 {
        Self::load(&self.sent, kind)
    }
}

/// The packet types a client sends, in type order: what `packets/<type>/received` lists.
pub const RECEIVED_TYPES: [PacketType; 10] = [
    PacketType::Connect,
    PacketType::Publish,
    PacketType::PubAck,
    PacketType::PubRec,
    PacketType::PubRel,
    PacketType::PubComp,
    PacketType::Subscribe,
    PacketType::Unsubscribe,
    PacketType::PingReq,
    PacketType::Disconnect,
];

/// The packet types the broker sends, in type order: what `packets/<type>/sent` lists.
pub const SENT_TYPES: [PacketType; 9] = [
    PacketType::ConnAck,
    PacketType::Publish,
    PacketType::PubAck,
    PacketType::PubRec,
    PacketType::PubRel,
    PacketType::PubComp,
    PacketType::SubAck,
    PacketType::UnsubAck,
    PacketType::PingResp,
];

/// A packet type's name as emqttd's metrics spell it (`publish`, `pingreq`).
pub fn packet_name(kind: PacketType) -> &'static str {
    match kind {
        PacketType::Connect => "connect",
        PacketType::ConnAck => "connack",
        PacketType::Publish => "publish",
        PacketType::PubAck => "puback",
        PacketType::PubRec => "pubrec",
        PacketType::PubRel => "pubrel",
        PacketType::PubComp => "pubcomp",
        PacketType::Subscribe => "subscribe",
        PacketType::SubAck => "suback",
        PacketType::Unsubscribe => "unsubscribe",
        PacketType::UnsubAck => "unsuback",
        PacketType::PingReq => "pingreq",
        PacketType::PingResp => "pingresp",
        PacketType::Disconnect => "disconnect",
        PacketType::Auth => "auth",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_helpers_count_the_total_and_the_type() {
        let m = Metrics::default();
        m.packet_received(PacketType::Publish);
        m.packet_received(PacketType::PingReq);
        m.packet_sent(PacketType::ConnAck);
        assert_eq!(m.packets_received.load(Ordering::Relaxed), 2);
        assert_eq!(m.packets_sent.load(Ordering::Relaxed), 1);
        assert_eq!(m.packets_by_type.received(PacketType::Publish), 1);
        assert_eq!(m.packets_by_type.received(PacketType::PingReq), 1);
        assert_eq!(m.packets_by_type.sent(PacketType::ConnAck), 1);
        assert_eq!(m.packets_by_type.sent(PacketType::Publish), 0);
    }

    #[test]
    fn mqueue_drop_counts_as_a_dropped_message_too() {
        let m = Metrics::default();
        m.mqueue_drop();
        assert_eq!(m.mqueue_dropped.load(Ordering::Relaxed), 1);
        assert_eq!(m.messages_dropped.load(Ordering::Relaxed), 1);
    }
}
