//! Counters and gauges, and the `metrics` worker that owns their periodic bookkeeping
//! (emqttd_metrics + emqttd_stats).
//!
//! Counters are plain atomics bumped on the hot path by whoever sees the event (a connection
//! counts its own packets), so counting never costs an actor hop. The worker samples them: it keeps
//! the maxima emqttd reports (`connections/max`, `sessions/max`, `topics/max`, …) and answers
//! snapshots.
//!
//! [`stats`] and [`report`] read everything at once under emqttd's names (`connections/count`,
//! `packets/publish/received`): the admin API serves them, `arbor ctl stats|metrics` prints them
//! and `sys` publishes them under `$SYS/brokers/<node>/stats/…` and `…/metrics/…`.
//!
//! Packets are counted by type only through [`Metrics::packet_received`] and
//! [`Metrics::packet_sent`], which bump the total too, so the per-type figures always add up to
//! `packets/received` and `packets/sent` once every call site uses them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{ChildSpec, FaultHook};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::broker::Broker;
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

/// Raises `max` to `now` and returns the maximum.
fn raise(max: &AtomicU64, now: u64) -> u64 {
    max.fetch_max(now, Ordering::Relaxed).max(now)
}

/// Updates every maximum from the live gauges and tables.
fn sample_maxima(broker: &Broker) {
    let m = &broker.metrics;
    raise(&m.connections_max, m.connections.load(Ordering::Relaxed));
    raise(&m.sessions_max, m.sessions.load(Ordering::Relaxed));
    raise(&m.topics_max, broker.routes.topics_count() as u64);
    raise(&m.subscriptions_max, broker.routes.subscriptions_count() as u64);
    raise(&m.retained_max, broker.retained.len() as u64);
}

/// emqttd_stats' figures now, by name: `connections/count|max`, `sessions/count|max`,
/// `topics/count|max`, `subscriptions/count|max`, `retained/count|max` and `mqueue/dropped`.
/// A maximum is raised to the current value first, so it is never below it.
pub fn stats(broker: &Broker) -> BTreeMap<String, u64> {
    sample_maxima(broker);
    let m = broker.metrics.snapshot();
    let figures = [
        ("connections/count", m.connections),
        ("connections/max", m.connections_max),
        ("sessions/count", m.sessions),
        ("sessions/max", m.sessions_max),
        ("topics/count", broker.routes.topics_count() as u64),
        ("topics/max", m.topics_max),
        ("subscriptions/count", broker.routes.subscriptions_count() as u64),
        ("subscriptions/max", m.subscriptions_max),
        ("retained/count", broker.retained.len() as u64),
        ("retained/max", m.retained_max),
        ("mqueue/dropped", m.mqueue_dropped),
    ];
    figures
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// emqttd_metrics' figures now, by name: `bytes/received|sent`, `packets/received|sent`,
/// `packets/<type>/received|sent`, `messages/received|sent|dropped|retained`,
/// `auth/failures`, `protocol/errors`, `connections/accepted` and
/// `connections/refused/<reason>` (every listener's refusals and closes by reason, added up).
pub fn report(broker: &Broker) -> BTreeMap<String, u64> {
    let m = broker.metrics.snapshot();
    let mut out: BTreeMap<String, u64> = [
        ("bytes/received", m.bytes_received),
        ("bytes/sent", m.bytes_sent),
        ("packets/received", m.packets_received),
        ("packets/sent", m.packets_sent),
        ("messages/received", m.messages_received),
        ("messages/sent", m.messages_sent),
        ("messages/dropped", m.messages_dropped),
        ("messages/retained", broker.retained.len() as u64),
        ("auth/failures", m.auth_failures),
        ("protocol/errors", m.protocol_errors),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    let by_type = &broker.metrics.packets_by_type;
    for kind in RECEIVED_TYPES {
        let name = format!("packets/{}/received", packet_name(kind));
        out.insert(name, by_type.received(kind));
    }
    for kind in SENT_TYPES {
        let name = format!("packets/{}/sent", packet_name(kind));
        out.insert(name, by_type.sent(kind));
    }
    let listeners: Vec<_> = broker.listeners.read().values().cloned().collect();
    let mut accepted = 0u64;
    for listener in listeners {
        accepted = accepted.saturating_add(listener.accepted.load(Ordering::Relaxed));
        for (reason, n) in listener.shutdown_counts.lock().iter() {
            let total = out.entry(format!("connections/refused/{reason}")).or_default();
            *total = total.saturating_add(*n);
        }
    }
    out.insert("connections/accepted".into(), accepted);
    out
}

/// Messages of the metrics worker.
pub enum MetricsMsg {
    /// Sample the gauges (sent by its own timer).
    Tick,
    /// A snapshot of every counter.
    Snapshot(RpcReplyPort<MetricsSnapshot>),
}

/// The metrics worker.
pub struct MetricsWorker;

/// Its state.
pub struct MetricsState {
    broker: Arc<Broker>,
    fault: FaultHook,
}

/// How often the worker samples.
const TICK: Duration = Duration::from_secs(1);

impl Actor for MetricsWorker {
    type Msg = MetricsMsg;
    type State = MetricsState;
    type Arguments = (Arc<Broker>, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<MetricsMsg>,
        (broker, fault): Self::Arguments,
    ) -> Result<MetricsState, ActorProcessingErr> {
        myself.send_interval(TICK, || MetricsMsg::Tick);
        Ok(MetricsState { broker, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<MetricsMsg>,
        msg: MetricsMsg,
        state: &mut MetricsState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            MetricsMsg::Tick => sample_maxima(&state.broker),
            MetricsMsg::Snapshot(reply) => {
                let _ = reply.send(state.broker.metrics.snapshot());
            }
        }
        Ok(())
    }
}

/// The `metrics` child of broker_sup.
pub fn spec(broker: Arc<Broker>) -> ChildSpec {
    crate::worker::spec(
        "metrics",
        || MetricsWorker,
        move |ctx| (broker.clone(), ctx.fault.clone()),
        |_| {},
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

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

    #[test]
    fn stats_raise_maxima_to_the_current_value() {
        let broker = Broker::new(BrokerConfig::defaults());
        let m = &broker.metrics;
        m.connections.store(3, Ordering::Relaxed);
        let first = stats(&broker);
        assert_eq!((first["connections/count"], first["connections/max"]), (3, 3));
        m.connections.store(1, Ordering::Relaxed);
        let later = stats(&broker);
        assert_eq!((later["connections/count"], later["connections/max"]), (1, 3));
    }

    #[test]
    fn report_names_every_packet_type_per_direction() {
        let broker = Broker::new(BrokerConfig::defaults());
        broker.metrics.packet_received(PacketType::Subscribe);
        let report = report(&broker);
        assert_eq!(report["packets/subscribe/received"], 1);
        assert_eq!(report["packets/received"], 1);
        assert!(report.contains_key("packets/suback/sent"));
        assert!(!report.contains_key("packets/suback/received"));
        let per_type = report
            .iter()
            .filter(|(k, _)| k.starts_with("packets/") && k.matches('/').count() == 2)
            .count();
        assert_eq!(per_type, RECEIVED_TYPES.len() + SENT_TYPES.len());
    }
}
