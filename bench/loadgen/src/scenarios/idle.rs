//! (e) Idle connections: open 19,000 connections, each subscribed to its own topic, as fast
//! as the broker takes them (`--concurrency` attempts in flight), hold them for the window,
//! then check how many are still open.
//!
//! Reports the connect rate (established / time from the first attempt to the last SUBACK),
//! CONNACK latency (TCP connect to CONNACK; in `latency_us`), and broker RSS per connection:
//! RSS at the end of the hold minus RSS before the first connection, over the connections
//! held. If the target count cannot be reached (file descriptors, refusals, timeouts) the
//! report says how many were, and why the others failed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Common, Params};
use crate::client::{Conn, QoS, SourcePorts};
use crate::clock;
use crate::procstat::raise_nofile_limit;
use crate::report::Report;
use crate::stats::Histogram;

/// How long one connection may take to connect and subscribe.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Stop opening connections after this long, or after this many failures.
const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(120);
const MAX_FAILURES: usize = 500;

/// Runs the scenario.
pub async fn run(common: &Common, params: &Params) -> Result<Report> {
    let target = params.connections.unwrap_or(19_000);
    let concurrency = params.concurrency.unwrap_or(128).max(1);
    let mut report = Report {
        scenario: "idle".into(),
        broker: common.label.clone(),
        subscribers: target,
        ..Report::default()
    };
    match raise_nofile_limit() {
        Ok(limit) => report.set("nofile_limit", limit),
        Err(e) => report.error(format!("raising the fd limit: {e}")),
    }
    let mut usage = common.usage()?;

    let started = clock::now_ns();
    let phase_end = started + clock::duration_ns(CONNECT_PHASE_LIMIT);
    let slots = Arc::new(Semaphore::new(concurrency));
    let source = Arc::new(SourcePorts::ephemeral());
    let mut tasks = JoinSet::new();
    let mut conns = Vec::with_capacity(target);
    let mut connack = Histogram::default();
    let mut failures: Vec<String> = Vec::new();
    let mut last_done = started;
    for i in 0..target {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        // Collect what finished meanwhile, so failures can stop the phase early.
        while let Some(joined) = tasks.try_join_next() {
            collect(joined, &mut conns, &mut connack, &mut failures, &mut last_done);
        }
        if failures.len() >= MAX_FAILURES || clock::now_ns() >= phase_end {
            drop(slot);
            break;
        }
        let (addr, login, source, tls) = (common.addr, common.login, source.clone(), common.tls.clone());
        let client_id = common.client_id("idle", i);
        tasks.spawn(async move {
            let attempt = async {
                let begun = clock::now_ns();
                let mut conn =
                    Conn::connect(addr, &client_id, login, None, Some(&source), tls.as_ref()).await?;
                let connack_ns = clock::now_ns() - begun;
                conn.subscribe(&format!("bench/idle/{i}"), QoS::AtMostOnce)
                    .await?;
                anyhow::Ok((conn, connack_ns))
            };
            let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("connect and subscribe timed out")),
            };
            drop(slot);
            result
        });
    }
    while let Some(joined) = tasks.join_next().await {
        collect(joined, &mut conns, &mut connack, &mut failures, &mut last_done);
    }
    let established = conns.len();
    let connect_secs = (last_done - started) as f64 / 1e9;
    let rss_connected = usage.broker_rss_now();

    usage.mark_window_start();
    tokio::time::sleep(common.window).await;
    usage.mark_window_end();
    let rss_held = usage.broker_rss_now();
    let open = conns.iter().filter(|c| still_open(c)).count();
    // Reset instead of closing: 19,000 client sockets in TIME_WAIT would crowd the ephemeral
    // port range for the next broker's run, slowing its connects. A zero linger never blocks.
    for conn in &conns {
        let _ = conn.stream.tcp().set_zero_linger();
    }
    drop(conns);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_close = usage.broker_rss_now();
    usage.fill(&mut report, after_close);

    report.window_s = common.window.as_secs_f64();
    report.latency_us = connack.summary();
    report.set("target", target as u64);
    report.set("established", established as u64);
    report.set("open_after_hold", open as u64);
    report.set("failed", failures.len() as u64);
    report.set("concurrency", concurrency as u64);
    report.set("connect_secs", (connect_secs * 1000.0).round() / 1000.0);
    report.set(
        "connect_rate",
        (established as f64 / connect_secs.max(1e-9)).round(),
    );
    report.set("connack_p99_ms", report.latency_us.p99 / 1000.0);
    if let (Some(start), Some(connected), Some(held)) = (usage.broker_start, rss_connected, rss_held) {
        let per = |rss: u64| rss.saturating_sub(start.rss) / established.max(1) as u64;
        report.set("rss_per_conn_bytes", per(held));
        report.set("rss_per_conn_bytes_at_connect", per(connected));
    }
    for failure in failures.iter().take(5) {
        report.error(failure.clone());
    }
    if open < established {
        report.error(format!(
            "{} connections closed during the hold",
            established - open
        ));
    }
    Ok(report)
}

fn collect(
    joined: Result<Result<(Conn, u64)>, tokio::task::JoinError>,
    conns: &mut Vec<Conn>,
    connack: &mut Histogram,
    failures: &mut Vec<String>,
    last_done: &mut u64,
) {
    match joined {
        Ok(Ok((conn, connack_ns))) => {
            connack.record(connack_ns);
            conns.push(conn);
            *last_done = clock::now_ns();
        }
        Ok(Err(e)) => failures.push(format!("{e:#}")),
        Err(e) => failures.push(format!("connect task: {e}")),
    }
}

/// A held connection is open if reading would block; EOF or an error means the broker
/// closed it.
fn still_open(conn: &Conn) -> bool {
    let mut probe = [0u8; 64];
    // Over TLS this reads raw records (a session ticket, say): data means open all the same.
    match conn.stream.tcp().try_read(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}
