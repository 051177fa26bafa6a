//! Runs a set of publishers and subscribers through warm-up, window and drain, and turns
//! what they measured into a [`Report`]. Every scenario but `idle` is a topology handed to
//! [`run`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::task::JoinSet;

use super::Common;
use crate::client::{Conn, QoS};
use crate::clock::{self, Window};
use crate::report::{Report, Usage};
use crate::roles::{self, Drain, PubSpec, PubStats, SubResult, SubSpec};
use crate::stats::Histogram;

/// How long a client may take to connect and subscribe during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between the last SUBACK and the first publish, so every route is in place.
const SETTLE: Duration = Duration::from_millis(300);

/// Who publishes and who subscribes.
pub struct Topology {
    /// Scenario name for the report.
    pub name: &'static str,
    /// Publishers, ids dense from 0.
    pub pubs: Vec<PubSpec>,
    /// Subscribers.
    pub subs: Vec<SubSpec>,
}

/// Everything a run produced, for the scenario to add its own fields.
pub struct Outcome {
    /// The report with the common fields filled.
    pub report: Report,
    /// Every subscriber's result, in topology order.
    pub subs: Vec<SubResult>,
    /// What each publisher sent.
    pub drain: Arc<Drain>,
    /// The window that was measured.
    pub window: Window,
    /// Broker and load-generator usage, still sampling.
    pub usage: Usage,
}

/// Connects every client, runs the window and the drain, and fills the common fields.
pub async fn run(common: &Common, topo: Topology) -> Result<Outcome> {
    let mut usage = common.usage()?;
    let subs_conns = connect_all(common, topo.subs.len(), "sub", |i| {
        let spec = topo.subs[i].clone();
        (spec.recv_buffer, Some((spec.filter, spec.qos)))
    })
    .await?;
    let pub_conns = connect_all(common, topo.pubs.len(), "pub", |_| (None, None)).await?;
    tokio::time::sleep(SETTLE).await;

    let window = Window::after(common.warmup, common.window);
    let drain = Arc::new(Drain::new(topo.pubs.len(), Duration::from_secs(2)));
    let mut sub_tasks = Vec::with_capacity(subs_conns.len());
    for (conn, spec) in subs_conns.into_iter().zip(topo.subs.iter().cloned()) {
        sub_tasks.push(tokio::spawn(roles::subscribe(conn, spec, window, drain.clone())));
    }
    let mut pub_tasks = Vec::with_capacity(pub_conns.len());
    for (conn, spec) in pub_conns.into_iter().zip(topo.pubs.iter().cloned()) {
        pub_tasks.push(tokio::spawn(roles::publish(conn, spec, window)));
    }

    clock::sleep_until(window.start_ns).await;
    usage.mark_window_start();
    let store_start = common.store.read().await;
    clock::sleep_until(window.end_ns).await;
    usage.mark_window_end();
    let store_end = common.store.read().await;

    let mut pubs = Vec::with_capacity(pub_tasks.len());
    for task in pub_tasks {
        pubs.push(task.await.context("publisher task")?);
    }
    drain.finish(&pubs, common.drain);
    let mut subs = Vec::with_capacity(sub_tasks.len());
    for task in sub_tasks {
        subs.push(task.await.context("subscriber task")?);
    }

    let mut report = Report {
        scenario: common.scenario_name(topo.name),
        broker: common.label.clone(),
        qos: topo.pubs.first().map_or(0, |p| p.qos as u8),
        payload_bytes: topo.pubs.first().map_or(0, |p| p.payload),
        publishers: topo.pubs.len(),
        subscribers: topo.subs.len(),
        window_s: window.secs(),
        ..Report::default()
    };
    summarise(&mut report, &topo, &pubs, &subs, &drain);
    if let Some(expiry) = common.persistent_subscribers {
        report.set("persistent_subscribers", true);
        report.set("session_expiry_s", expiry);
    }
    let published = report.published;
    crate::store::fill(&mut report, &store_start, &store_end, published);
    // Connections are closed by now (every task returned); give the broker a moment to free.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_close = usage.broker_rss_now();
    usage.fill(&mut report, after_close);
    Ok(Outcome {
        report,
        subs,
        drain,
        window,
        usage,
    })
}

/// Connects `n` clients at once; `setup(i)` gives client `i`'s SO_RCVBUF and subscription.
async fn connect_all(
    common: &Common,
    n: usize,
    role: &str,
    setup: impl Fn(usize) -> (Option<u32>, Option<(String, QoS)>),
) -> Result<Vec<Conn>> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (recv_buffer, subscription) = setup(i);
        let (addr, login) = (common.addr, common.login_for(role));
        let client_id = common.client_id(role, i);
        let tls = common.tls.clone();
        tasks.spawn(async move {
            let connect = async {
                let mut conn =
                    Conn::connect(addr, &client_id, login, recv_buffer, None, tls.as_ref()).await?;
                if let Some((filter, qos)) = subscription {
                    conn.subscribe(&filter, qos).await?;
                }
                anyhow::Ok(conn)
            };
            let conn = tokio::time::timeout(SETUP_TIMEOUT, connect)
                .await
                .with_context(|| format!("{client_id}: setup timed out"))?
                .with_context(|| client_id.clone())?;
            anyhow::Ok((i, conn))
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, conn) = joined.context("connect task")??;
        conns[i] = Some(conn);
    }
    let conns: Vec<Conn> = conns.into_iter().flatten().collect();
    if conns.len() != n {
        bail!("only {} of {n} {role} clients connected", conns.len());
    }
    Ok(conns)
}

/// Rates, latency and loss over the measured subscribers; errors from every client.
fn summarise(report: &mut Report, topo: &Topology, pubs: &[PubStats], subs: &[SubResult], drain: &Drain) {
    report.published = pubs.iter().map(|p| p.in_window).sum();
    report.unacked = pubs
        .iter()
        .zip(&topo.pubs)
        .filter(|(_, spec)| spec.qos == QoS::AtLeastOnce)
        .map(|(p, _)| p.sent.saturating_sub(p.acked))
        .sum();
    let mut latency = Histogram::default();
    for (i, (sub, spec)) in subs.iter().zip(&topo.subs).enumerate() {
        if let Some(e) = &sub.error {
            report.error(format!("subscriber {i}: {e}"));
        }
        if sub.closed_by_broker {
            report.error(format!("subscriber {i}: broker closed the connection"));
        }
        if !spec.measured {
            continue;
        }
        report.delivered += sub.stats.in_window;
        latency.merge(&sub.stats.latency);
        report.duplicated += sub.stats.duplicated();
        report.reordered += sub.stats.reordered();
        for &id in &spec.expects {
            let (sent, got) = (drain.sent(id), sub.stats.unique_from(id));
            report.expected += sent;
            report.received += got.min(sent);
        }
        if sub.stats.foreign > 0 {
            report.error(format!("subscriber {i}: {} foreign payloads", sub.stats.foreign));
        }
    }
    report.lost = report.expected - report.received;
    report.latency_us = latency.summary();
    for p in pubs {
        if let Some(e) = &p.error {
            report.error(format!("publisher {}: {e}", p.id));
        }
    }
    report.set_rates();
}
