//! `GET /metrics`: the broker's counters and gauges in the Prometheus (OpenMetrics) text format,
//! encoded by the Prometheus project's `prometheus-client` crate.
//!
//! Values are not copied into the crate's own metric types: a [`Collector`] reads the broker's
//! atomics, tables and supervision tree on each scrape, so the figures are exactly those the JSON
//! API shows at that moment. Counters get `_total` from the encoder. Families:
//!
//! - counters: `arbor_bytes_{received,sent}`, `arbor_packets_{received,sent}`,
//!   `arbor_packets_{received,sent}_by_type{type}`, `arbor_messages_{received,sent,dropped}`,
//!   `arbor_mqueue_dropped`, `arbor_messages_expired`, `arbor_messages_too_large`,
//!   `arbor_auth_failures`, `arbor_protocol_errors`,
//!   `arbor_listener_accepted{listener,kind}`, `arbor_listener_shutdowns{listener,kind,reason}`
//!   (handshake failures are the reasons `tls_handshake`, `ws_upgrade`, `timeout`),
//!   `arbor_supervisor_restarts{path}` (the restarts each supervisor performed on its children);
//! - gauges: `arbor_connections`, `arbor_sessions`, `arbor_topics`, `arbor_subscriptions`,
//!   `arbor_retained_messages`, each with a `_max` twin, `arbor_listener_connections{listener,kind}`,
//!   `arbor_listener_max_connections{listener,kind}`, `arbor_uptime_seconds`.

use arbor_actors::store::StoreInfo;
use std::fmt;

use arbor_actors::api::BrokerApi;
use arbor_actors::codec::PacketType;
use arbor_actors::esockd::table::ListenerInfo;
use arbor_actors::observability::metrics::{packet_name, RECEIVED_TYPES, SENT_TYPES};
use arbor_supervisors::{TreeNode, TreeOpts};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::ApiError;

/// The OpenMetrics text content type, which Prometheus asks for and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`.
pub async fn scrape(State(broker): State<BrokerApi>) -> Result<Response, ApiError> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BrokerCollector(broker)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Reads the broker at each scrape.
struct BrokerCollector(BrokerApi);

impl fmt::Debug for BrokerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokerCollector")
    }
}

/// One labelled sample: label pairs and the value.
type Sample = (Vec<(&'static str, String)>, u64);

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: Vec<Sample>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        let sample = metric.encode_family(&labels)?;
        match kind {
            MetricType::Gauge => ConstGauge::new(value).encode(sample)?,
            _ => ConstCounter::new(value).encode(sample)?,
        }
    }
    Ok(())
}

fn by_type(types: &[PacketType], count: impl Fn(PacketType) -> u64) -> Vec<Sample> {
    types
        .iter()
        .map(|&kind| (vec![("type", packet_name(kind).to_string())], count(kind)))
        .collect()
}

/// The durable store's figures (all 0 with `storage.backend = "memory"`).
fn store(e: &mut DescriptorEncoder, info: &StoreInfo) -> fmt::Result {
    gauge(
        e,
        "arbor_store_size_bytes",
        "Bytes the store's files take on disk",
        info.size_bytes,
    )?;
    gauge(
        e,
        "arbor_store_sessions",
        "Persistent sessions in the store",
        info.sessions,
    )?;
    gauge(
        e,
        "arbor_store_messages",
        "Messages in the store (queued or inflight)",
        info.messages,
    )?;
    gauge(
        e,
        "arbor_store_retained",
        "Retained messages in the store",
        info.retained,
    )?;
    gauge(
        e,
        "arbor_store_last_commit_ms",
        "Unix milliseconds of the store's last commit",
        info.last_commit_ms,
    )?;
    counter(
        e,
        "arbor_store_commits",
        "Store commits (each one group of writes)",
        info.commits,
    )?;
    counter(
        e,
        "arbor_store_commit_errors",
        "Store commits that failed (nothing of them acknowledged)",
        info.commit_errors,
    )?;
    counter(
        e,
        "arbor_store_bytes_written",
        "Bytes of keys and values the store wrote",
        info.bytes_written,
    )?;
    counter(
        e,
        "arbor_store_cancelled",
        "Store writes cancelled in their batch (acknowledged before the commit)",
        info.cancelled,
    )
}

/// Every supervisor's path and the restarts it performed on its children.
fn supervisor_restarts(node: &TreeNode, out: &mut Vec<Sample>) {
    if let Some(restarts) = node.child_restarts {
        out.push((vec![("path", node.path.clone())], restarts));
    }
    for child in &node.children {
        supervisor_restarts(child, out);
    }
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let broker = &self.0;
        let e = &mut encoder;
        // Read first: `stats` raises the maxima to the current values.
        let stats = broker.stats().stats();
        let m = broker.metrics().snapshot();
        let stat = |name: &str| stats.get(name).copied().unwrap_or(0);

        counter(
            e,
            "arbor_bytes_received",
            "Bytes read from clients",
            m.bytes_received,
        )?;
        counter(e, "arbor_bytes_sent", "Bytes written to clients", m.bytes_sent)?;
        counter(
            e,
            "arbor_packets_received",
            "MQTT packets decoded",
            m.packets_received,
        )?;
        counter(e, "arbor_packets_sent", "MQTT packets written", m.packets_sent)?;
        let types = &broker.metrics().packets_by_type;
        family(
            e,
            "arbor_packets_received_by_type",
            "MQTT packets decoded, by packet type",
            MetricType::Counter,
            by_type(&RECEIVED_TYPES, |kind| types.received(kind)),
        )?;
        family(
            e,
            "arbor_packets_sent_by_type",
            "MQTT packets written, by packet type",
            MetricType::Counter,
            by_type(&SENT_TYPES, |kind| types.sent(kind)),
        )?;
        counter(
            e,
            "arbor_messages_received",
            "PUBLISH packets received from clients",
            m.messages_received,
        )?;
        counter(
            e,
            "arbor_messages_sent",
            "PUBLISH packets delivered to clients",
            m.messages_sent,
        )?;
        counter(
            e,
            "arbor_messages_dropped",
            "Messages dropped: no subscriber, mqueue full, denied",
            m.messages_dropped,
        )?;
        counter(
            e,
            "arbor_mqueue_dropped",
            "Messages dropped from a full session queue",
            m.mqueue_dropped,
        )?;
        counter(
            e,
            "arbor_messages_expired",
            "MQTT 5 messages that expired before they could be sent",
            m.messages_expired,
        )?;
        counter(
            e,
            "arbor_messages_too_large",
            "PUBLISHes not sent to a client whose Maximum Packet Size they exceed",
            m.messages_too_large,
        )?;
        counter(
            e,
            "arbor_auth_failures",
            "CONNECTs refused for bad credentials",
            m.auth_failures,
        )?;
        counter(
            e,
            "arbor_protocol_errors",
            "Connections closed for a protocol violation",
            m.protocol_errors,
        )?;

        for (name, help, key) in [
            ("arbor_connections", "Live connections", "connections/count"),
            (
                "arbor_connections_max",
                "Most live connections seen",
                "connections/max",
            ),
            ("arbor_sessions", "Live sessions", "sessions/count"),
            ("arbor_sessions_max", "Most live sessions seen", "sessions/max"),
            ("arbor_topics", "Distinct topic filters routed", "topics/count"),
            ("arbor_topics_max", "Most topic filters seen", "topics/max"),
            (
                "arbor_subscriptions",
                "Subscriptions routed",
                "subscriptions/count",
            ),
            (
                "arbor_subscriptions_max",
                "Most subscriptions seen",
                "subscriptions/max",
            ),
            (
                "arbor_retained_messages",
                "Retained messages stored",
                "retained/count",
            ),
            (
                "arbor_retained_messages_max",
                "Most retained messages seen",
                "retained/max",
            ),
        ] {
            gauge(e, name, help, stat(key))?;
        }
        gauge(
            e,
            "arbor_uptime_seconds",
            "Seconds since the broker started",
            broker.uptime().as_secs(),
        )?;

        let listeners: Vec<_> = broker
            .listeners()
            .iter()
            .map(|listener| (listener.info(), listener.accepted_total()))
            .collect();
        let label =
            |info: &ListenerInfo| vec![("listener", info.id.clone()), ("kind", info.kind.to_string())];
        family(
            e,
            "arbor_listener_connections",
            "Live connections of a listener",
            MetricType::Gauge,
            listeners
                .iter()
                .map(|(info, _)| (label(info), info.current_connections as u64))
                .collect(),
        )?;
        family(
            e,
            "arbor_listener_max_connections",
            "Most connections a listener admits at once",
            MetricType::Gauge,
            listeners
                .iter()
                .map(|(info, _)| (label(info), info.max_connections as u64))
                .collect(),
        )?;
        family(
            e,
            "arbor_listener_accepted",
            "Sockets a listener accepted",
            MetricType::Counter,
            listeners
                .iter()
                .map(|(info, accepted)| (label(info), *accepted))
                .collect(),
        )?;
        let shutdowns = listeners
            .iter()
            .flat_map(|(info, _)| {
                info.shutdown_counts.iter().map(|(reason, n)| {
                    (
                        vec![
                            ("listener", info.id.clone()),
                            ("kind", info.kind.to_string()),
                            ("reason", reason.clone()),
                        ],
                        *n,
                    )
                })
            })
            .collect();
        family(
            e,
            "arbor_listener_shutdowns",
            "Connections a listener refused or closed, by reason",
            MetricType::Counter,
            shutdowns,
        )?;

        store(e, &broker.store().info())?;

        let mut restarts = Vec::new();
        if let Some(root) = broker.root() {
            supervisor_restarts(&root.tree(TreeOpts::default()), &mut restarts);
        }
        family(
            e,
            "arbor_supervisor_restarts",
            "Restarts a supervisor performed on its children",
            MetricType::Counter,
            restarts,
        )
    }
}
