//! (f) The slow consumer: one publisher at 10,000 msg/s to a topic with two subscribers. The
//! slow one stops reading for the whole run (its SO_RCVBUF shrunk so the kernel cannot
//! absorb the backlog) and resumes after the window; the witness reads normally.
//!
//! What a broker should do is hold a bounded backlog for the slow one and drop the rest (or
//! disconnect it), while the witness is unaffected. So the report gives, beside the usual
//! fields for the witness: how the broker's RSS grew in each half of the window, whether the
//! second half still grew (`rss_bounded`), and how many messages the slow subscriber never got
//! (`slow_dropped`) once it drained what the broker had kept.

use anyhow::Result;

use super::pubsub::{self, Topology};
use super::{Common, Params};
use crate::client::QoS;
use crate::report::Report;
use crate::roles::{PubSpec, SubSpec};

/// SO_RCVBUF of the slow subscriber.
const SLOW_RCVBUF: u32 = 16 * 1024;
/// Growth allowed in the window's second half, whatever the message volume.
const GROWTH_FLOOR: u64 = 4 << 20;

/// Runs the scenario.
pub async fn run(common: &Common, params: &Params) -> Result<Report> {
    let qos = params.qos.unwrap_or(QoS::AtMostOnce);
    let topic = "bench/slow".to_string();
    let payload = params.payload.unwrap_or(256);
    let rate = params.rate.filter(|r| *r > 0.0).unwrap_or(10_000.0);
    let subscriber = |paused| SubSpec {
        filter: topic.clone(),
        qos,
        expects: vec![0],
        paused,
        measured: !paused,
        recv_buffer: paused.then_some(SLOW_RCVBUF),
    };
    let topo = Topology {
        name: "slow",
        pubs: vec![PubSpec {
            id: 0,
            topic: topic.clone(),
            qos,
            rate: Some(rate),
            max_inflight: params.max_inflight.unwrap_or(64),
            payload,
        }],
        subs: vec![subscriber(true), subscriber(false)],
    };
    let outcome = pubsub::run(common, topo).await?;
    let mut report = outcome.report;
    let slow = &outcome.subs[0];
    let sent = outcome.drain.sent(0);
    report.set("slow_received", slow.stats.unique_from(0));
    report.set("slow_dropped", sent.saturating_sub(slow.stats.unique_from(0)));
    report.set("slow_closed_by_broker", slow.closed_by_broker);

    let window = outcome.window;
    let mid = window.start_ns + (window.end_ns - window.start_ns) / 2;
    if let (Some(sampler), Some(start)) = (&outcome.usage.broker, outcome.usage.broker_start) {
        let first = sampler.peak_rss_between(window.start_ns, mid);
        let second = sampler.peak_rss_between(mid, window.end_ns);
        let growth = second.saturating_sub(first);
        // Bytes that went to the slow subscriber's topic in the second half.
        let offered = report.published * payload as u64 / 2;
        let allowed = GROWTH_FLOOR.max(offered / 10);
        report.set(
            "rss_growth_kib",
            sampler.peak_rss().saturating_sub(start.rss) / 1024,
        );
        report.set("rss_growth_second_half_kib", growth / 1024);
        report.set("rss_growth_allowed_kib", allowed / 1024);
        report.set("rss_bounded", growth <= allowed);
    }
    Ok(report)
}
