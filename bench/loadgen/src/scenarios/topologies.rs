//! The topologies of the plain throughput and latency scenarios (a) to (d), with the issue's
//! numbers as defaults.

use super::pubsub::Topology;
use super::Params;
use crate::client::QoS;
use crate::roles::{PubSpec, SubSpec};

/// `--rate 0` means unpaced.
fn rate(params: &Params, default: Option<f64>) -> Option<f64> {
    match params.rate {
        Some(r) if r > 0.0 => Some(r),
        Some(_) => None,
        None => default,
    }
}

fn publishers(
    n: usize,
    topic: impl Fn(u32) -> String,
    qos: QoS,
    rate: Option<f64>,
    params: &Params,
    payload: usize,
) -> Vec<PubSpec> {
    (0..n as u32)
        .map(|id| PubSpec {
            id,
            topic: topic(id),
            qos,
            rate,
            max_inflight: params.max_inflight.unwrap_or(64),
            payload: params.payload.unwrap_or(payload),
        })
        .collect()
}

fn subscriber(filter: String, qos: QoS, expects: Vec<u32>) -> SubSpec {
    SubSpec {
        filter,
        qos,
        expects,
        paused: false,
        measured: true,
        recv_buffer: None,
    }
}

/// (a) 8 publishers, unpaced, QoS 0, 64 B, each on its own topic → 1 subscriber on `#`.
pub fn fanin(params: &Params) -> Topology {
    let qos = params.qos.unwrap_or(QoS::AtMostOnce);
    let n = params.publishers.unwrap_or(8);
    let pubs = publishers(
        n,
        |id| format!("bench/fanin/{id}"),
        qos,
        rate(params, None),
        params,
        64,
    );
    let all = pubs.iter().map(|p| p.id).collect();
    Topology {
        name: "fanin",
        pubs,
        subs: vec![subscriber("#".into(), qos, all)],
    }
}

/// (b) 1 publisher at 5,000 msg/s, QoS 0, 64 B → 100 subscribers of its topic.
pub fn fanout(params: &Params) -> Topology {
    let qos = params.qos.unwrap_or(QoS::AtMostOnce);
    let topic = "bench/fanout";
    let pubs = publishers(1, |_| topic.into(), qos, rate(params, Some(5000.0)), params, 64);
    let subs = (0..params.subscribers.unwrap_or(100))
        .map(|_| subscriber(topic.into(), qos, vec![0]))
        .collect();
    Topology {
        name: "fanout",
        pubs,
        subs,
    }
}

/// (c) 50 QoS 1 publishers, unpaced with at most 64 unacknowledged, 256 B, each → its own
/// subscriber.
pub fn pairs(params: &Params) -> Topology {
    let qos = params.qos.unwrap_or(QoS::AtLeastOnce);
    let n = params.publishers.unwrap_or(50);
    let topic = |id: u32| format!("bench/pair/{id}");
    let pubs = publishers(n, topic, qos, rate(params, None), params, 256);
    let subs = pubs
        .iter()
        .map(|p| subscriber(p.topic.clone(), qos, vec![p.id]))
        .collect();
    Topology {
        name: "pairs",
        pubs,
        subs,
    }
}

/// (d) 1 publisher at 1,000 msg/s, 64 B → 1 subscriber; QoS from `--qos` (default 0).
pub fn latency(params: &Params) -> Topology {
    let qos = params.qos.unwrap_or(QoS::AtMostOnce);
    let topic = "bench/latency";
    let pubs = publishers(1, |_| topic.into(), qos, rate(params, Some(1000.0)), params, 64);
    Topology {
        name: "latency",
        pubs,
        subs: vec![subscriber(topic.into(), qos, vec![0])],
    }
}
