//! The scenarios of issue 8, one function each, all ending in one [`Report`].
//!
//! | scenario | shape |
//! |---|---|
//! | `fanin` (a) | 8 publishers flat out, QoS 0, 64 B → 1 subscriber on `#` |
//! | `fanout` (b) | 1 publisher at 5,000 msg/s → 100 subscribers of its topic |
//! | `pairs` (c) | 50 publishers ↔ 50 subscribers on their own topics, QoS 1, 256 B, ≤ 64 unacked |
//! | `latency` (d) | 1 publisher at 1,000 msg/s → 1 subscriber, QoS 0 or 1 |
//! | `idle` (e) | 19,000 connections, each subscribed, opened as fast as the broker takes them |
//! | `slow` (f) | 10,000 msg/s to a subscriber that stops reading, plus a witness that reads |
//!
//! With `--persistent-subscribers` the subscribers of (a) to (d) and (f) open persistent
//! sessions and the scenario is reported with a `d` (durable): `pairsd` is `pairs` with each
//! QoS 1 message stored for its subscriber's session before the broker acknowledges it.
//!
//! [`Params`] carries the command line's overrides; each scenario takes its defaults from
//! the issue for anything not given.

mod idle;
mod pubsub;
mod slow;
mod topologies;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use clap::ValueEnum;

use crate::client::{Login, QoS};
use crate::procstat::{Proc, Sampler};
use crate::report::{Report, Usage};

/// How often the broker and the load generator are sampled.
const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// Which scenario to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// (a) fan-in: many publishers, one subscriber on `#`.
    #[value(alias = "a")]
    Fanin,
    /// (b) fan-out: one paced publisher, many subscribers.
    #[value(alias = "b")]
    Fanout,
    /// (c) QoS 1 publisher/subscriber pairs.
    #[value(alias = "c")]
    Pairs,
    /// (d) latency at a low, paced rate.
    #[value(alias = "d")]
    Latency,
    /// (e) many idle, subscribed connections.
    #[value(alias = "e")]
    Idle,
    /// (f) a subscriber that stops reading.
    #[value(alias = "f")]
    Slow,
}

/// Settings every scenario shares.
pub struct Common {
    /// The broker's MQTT listener.
    pub addr: SocketAddr,
    /// Name of the broker in the report.
    pub label: String,
    /// The broker's pid, for RSS and CPU.
    pub broker_pid: Option<u32>,
    /// Time before the window opens.
    pub warmup: Duration,
    /// The measurement window (the hold time for `idle`).
    pub window: Duration,
    /// Most time to wait for the last messages after the window.
    pub drain: Duration,
    /// What every client's CONNECT says: protocol level and keep alive.
    pub login: Login,
    /// TLS to the broker (`--tls-ca`), or plain TCP.
    pub tls: Option<crate::client::Tls>,
    /// Subscribers open persistent sessions with this expiry in seconds
    /// (`--persistent-subscribers`): 3.1.1 clean session 0, MQTT 5 Session Expiry Interval.
    /// The scenario is then named with a `d` (durable): `pairsd`.
    pub persistent_subscribers: Option<u32>,
    /// Where the broker's store figures and disk writes are read at the window's edges.
    pub store: crate::store::Probe,
}

impl Common {
    /// A client id unique to this process, role and index.
    pub fn client_id(&self, role: &str, i: usize) -> String {
        format!("bench-{}-{role}-{i}", std::process::id())
    }

    /// What a client of `role` says in CONNECT: subscribers' sessions are persistent with
    /// `--persistent-subscribers`.
    pub fn login_for(&self, role: &str) -> Login {
        match (role, self.persistent_subscribers) {
            ("sub", Some(expiry)) => self.login.persistent(expiry),
            _ => self.login,
        }
    }

    /// A scenario's name in the report: `d` appended when its subscribers are persistent.
    pub fn scenario_name(&self, name: &str) -> String {
        match self.persistent_subscribers {
            Some(_) => format!("{name}d"),
            None => name.to_string(),
        }
    }

    /// Starts sampling the broker (if its pid is known) and this process.
    pub fn usage(&self) -> Result<Usage> {
        let broker = match self.broker_pid {
            Some(pid) => Some(Sampler::start(Proc::new(pid)?, SAMPLE_PERIOD)),
            None => None,
        };
        let loadgen = Proc::current().ok().map(|p| Sampler::start(p, SAMPLE_PERIOD));
        Ok(Usage::start(broker, loadgen))
    }
}

/// Overrides from the command line; `None` takes the scenario's default.
#[derive(Clone, Debug, Default)]
pub struct Params {
    /// Publisher connections.
    pub publishers: Option<usize>,
    /// Subscriber connections.
    pub subscribers: Option<usize>,
    /// Payload bytes.
    pub payload: Option<usize>,
    /// Messages per second per publisher (0: unpaced).
    pub rate: Option<f64>,
    /// QoS 0 or 1.
    pub qos: Option<QoS>,
    /// Most unacknowledged QoS 1 messages per publisher.
    pub max_inflight: Option<usize>,
    /// Connections for `idle`.
    pub connections: Option<usize>,
    /// Connection attempts in flight at once for `idle`.
    pub concurrency: Option<usize>,
}

/// Runs one scenario and returns its report.
pub async fn run(scenario: Scenario, common: &Common, params: &Params) -> Result<Report> {
    let mut report = match scenario {
        Scenario::Fanin => pubsub::run(common, topologies::fanin(params)).await?.report,
        Scenario::Fanout => pubsub::run(common, topologies::fanout(params)).await?.report,
        Scenario::Pairs => pubsub::run(common, topologies::pairs(params)).await?.report,
        Scenario::Latency => pubsub::run(common, topologies::latency(params)).await?.report,
        Scenario::Idle => idle::run(common, params).await?,
        Scenario::Slow => slow::run(common, params).await?,
    };
    report.mqtt_version = common.login.version.level();
    Ok(report)
}

impl Scenario {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanin => "fanin",
            Scenario::Fanout => "fanout",
            Scenario::Pairs => "pairs",
            Scenario::Latency => "latency",
            Scenario::Idle => "idle",
            Scenario::Slow => "slow",
        }
    }
}
