//! emqttd_stats and the `metrics` worker: the broker's figures read out under emqttd's names,
//! and the worker that keeps their maxima.
//!
//! [`Stats::stats`] and [`Stats::report`] read everything at once (`connections/count`,
//! `packets/publish/received`): the admin API serves them, `arbor ctl stats|metrics` prints them
//! and `sys` publishes them under `$SYS/brokers/<node>/stats/…` and `…/metrics/…`. They read the
//! tables directly; the worker only samples the maxima every second so a short peak is not
//! missed between two reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbor_supervisors::Worker;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::esockd::table::Listeners;
use crate::observability::metrics::{packet_name, Metrics, MetricsSnapshot, RECEIVED_TYPES, SENT_TYPES};
use crate::routing::retainer::Retained;
use crate::session::Routes;
use crate::timeouts;

/// Read handles on everything the figures count.
pub struct Stats {
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Routes, for topics and subscriptions.
    pub routes: Arc<Routes>,
    /// Retained messages.
    pub retained: Arc<Retained>,
    /// The listeners, for accepted and refused connections.
    pub listeners: Arc<Listeners>,
}

/// Raises `max` to `now` and returns the maximum.
fn raise(max: &AtomicU64, now: u64) -> u64 {
    max.fetch_max(now, Ordering::Relaxed).max(now)
}

impl Stats {
    /// Updates every maximum from the live gauges and tables.
    fn sample_maxima(&self) {
        let m = &self.metrics;
        raise(&m.connections_max, m.connections.load(Ordering::Relaxed));
        raise(&m.sessions_max, m.sessions.load(Ordering::Relaxed));
        raise(&m.topics_max, self.routes.topics_count() as u64);
        raise(&m.subscriptions_max, self.routes.subscriptions_count() as u64);
        raise(&m.retained_max, self.retained.len() as u64);
    }

    /// emqttd_stats' figures now, by name: `connections/count|max`, `sessions/count|max`,
    /// `topics/count|max`, `subscriptions/count|max`, `retained/count|max` and `mqueue/dropped`.
    /// A maximum is raised to the current value first, so it is never below it.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.sample_maxima();
        let m = self.metrics.snapshot();
        let figures = [
            ("connections/count", m.connections),
            ("connections/max", m.connections_max),
            ("sessions/count", m.sessions),
            ("sessions/max", m.sessions_max),
            ("topics/count", self.routes.topics_count() as u64),
            ("topics/max", m.topics_max),
            ("subscriptions/count", self.routes.subscriptions_count() as u64),
            ("subscriptions/max", m.subscriptions_max),
            ("retained/count", self.retained.len() as u64),
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
    pub fn report(&self) -> BTreeMap<String, u64> {
        let m = self.metrics.snapshot();
        let mut out: BTreeMap<String, u64> = [
            ("bytes/received", m.bytes_received),
            ("bytes/sent", m.bytes_sent),
            ("packets/received", m.packets_received),
            ("packets/sent", m.packets_sent),
            ("messages/received", m.messages_received),
            ("messages/sent", m.messages_sent),
            ("messages/dropped", m.messages_dropped),
            ("messages/retained", self.retained.len() as u64),
            ("auth/failures", m.auth_failures),
            ("protocol/errors", m.protocol_errors),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        let by_type = &self.metrics.packets_by_type;
        for kind in RECEIVED_TYPES {
            let name = format!("packets/{}/received", packet_name(kind));
            out.insert(name, by_type.received(kind));
        }
        for kind in SENT_TYPES {
            let name = format!("packets/{}/sent", packet_name(kind));
            out.insert(name, by_type.sent(kind));
        }
        let mut accepted = 0u64;
        for listener in self.listeners.iter() {
            accepted = accepted.saturating_add(listener.accepted_total());
            for (reason, n) in listener.shutdown_counts() {
                let total = out.entry(format!("connections/refused/{reason}")).or_default();
                *total = total.saturating_add(n);
            }
        }
        out.insert("connections/accepted".into(), accepted);
        out
    }
}

/// Messages of the metrics worker.
pub enum MetricsMsg {
    /// Sample the gauges (sent by its own timer).
    Tick,
    /// A snapshot of every counter.
    Snapshot(RpcReplyPort<MetricsSnapshot>),
}

/// The `metrics` worker of broker_sup (emqttd_metrics' process).
pub struct MetricsWorker;

impl Worker for MetricsWorker {
    type Msg = MetricsMsg;
    type Args = Arc<Stats>;
    type State = Arc<Stats>;

    async fn init(myself: ActorRef<MetricsMsg>, stats: Arc<Stats>) -> Result<Arc<Stats>, ActorProcessingErr> {
        myself.send_interval(timeouts::METRICS_TICK, || MetricsMsg::Tick);
        Ok(stats)
    }

    async fn handle(
        _myself: ActorRef<MetricsMsg>,
        msg: MetricsMsg,
        stats: &mut Arc<Stats>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MetricsMsg::Tick => stats.sample_maxima(),
            MetricsMsg::Snapshot(reply) => {
                let _ = reply.send(stats.metrics.snapshot());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PacketType;

    fn stats() -> Stats {
        Stats {
            metrics: Arc::default(),
            routes: Arc::default(),
            retained: Arc::default(),
            listeners: Arc::default(),
        }
    }

    #[test]
    fn stats_raise_maxima_to_the_current_value() {
        let stats = stats();
        let m = &stats.metrics;
        m.connections.store(3, Ordering::Relaxed);
        let first = stats.stats();
        assert_eq!((first["connections/count"], first["connections/max"]), (3, 3));
        m.connections.store(1, Ordering::Relaxed);
        let later = stats.stats();
        assert_eq!((later["connections/count"], later["connections/max"]), (1, 3));
    }

    #[test]
    fn report_names_every_packet_type_per_direction() {
        let stats = stats();
        stats.metrics.packet_received(PacketType::Subscribe);
        let report = stats.report();
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
