//! Counters and gauges, and the `metrics` worker that owns their periodic bookkeeping
//! (emqttd_metrics + emqttd_stats).
//!
//! Counters are plain atomics bumped on the hot path by whoever sees the event (a connection
//! counts its own packets), so counting never costs an actor hop. The worker samples them: it keeps
//! the maxima emqttd reports (`connections/max`, `sessions/max`) and answers snapshots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{ChildSpec, FaultHook};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::broker::Broker;

macro_rules! counters {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {
        /// The broker's counters; each is monotonic unless its doc says gauge.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $(#[$doc] pub $name: AtomicU64,)*
        }

        /// A point-in-time copy of [`Metrics`].
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
    metrics: Arc<Metrics>,
    fault: FaultHook,
}

/// How often the worker samples.
const TICK: Duration = Duration::from_secs(1);

impl Actor for MetricsWorker {
    type Msg = MetricsMsg;
    type State = MetricsState;
    type Arguments = (Arc<Metrics>, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<MetricsMsg>,
        (metrics, fault): Self::Arguments,
    ) -> Result<MetricsState, ActorProcessingErr> {
        myself.send_interval(TICK, || MetricsMsg::Tick);
        Ok(MetricsState { metrics, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<MetricsMsg>,
        msg: MetricsMsg,
        state: &mut MetricsState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            MetricsMsg::Tick => {
                let m = &state.metrics;
                m.connections_max
                    .fetch_max(m.connections.load(Ordering::Relaxed), Ordering::Relaxed);
                m.sessions_max
                    .fetch_max(m.sessions.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            MetricsMsg::Snapshot(reply) => {
                let _ = reply.send(state.metrics.snapshot());
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
        move |ctx| (broker.metrics.clone(), ctx.fault.clone()),
        |_| {},
    )
}
