//! `loadgen`: the load generator of arbor's benchmarks (issue 8).
//!
//! `loadgen run <scenario> --port P [--broker-pid PID] [--label NAME] [--mqtt-version 5]`
//! runs one scenario against an MQTT 3.1.1 (or, with `--mqtt-version 5`, MQTT 5) broker on
//! loopback and prints one JSON object ([`report::Report`]); `loadgen table FILE` turns the
//! JSON lines of a sitting into the comparison table. `bench/run.sh` drives both, against
//! arbor, Mosquitto and rumqttd; `bench/README.md` says what each scenario measures.
//! `loadgen fill` and `loadgen check` are the load of `bench/recovery.sh` ([`recovery`]):
//! many persistent sessions with stored messages, and coming back to them after a restart.
//!
//! Layout: [`client`] speaks MQTT ([`props`] reads MQTT 5 property blocks), [`roles`] are
//! the publisher and subscriber loops built on it, [`scenarios`] arrange them, [`stats`] and
//! [`procstat`] measure, [`report`] and [`table`] print. Every loop is bounded in time: publishers stop at the window's end,
//! subscribers at the drain deadline, and the whole run at `--time-limit`.

mod client;
mod clock;
mod payload;
mod procstat;
mod props;
mod recovery;
mod report;
mod roles;
mod scenarios;
mod stats;
mod store;
mod table;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::client::{Login, QoS, Version};
use crate::scenarios::{Common, Params, Scenario};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "MQTT 3.1.1 and 5 load generator for arbor's benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and print one JSON object.
    Run(RunArgs),
    /// Print the comparison table of a file of JSON lines.
    Table {
        /// The JSON lines `run` printed, for both brokers.
        file: std::path::PathBuf,
        /// Label of the broker under test.
        #[arg(long, default_value = "arbor")]
        candidate: String,
        /// Labels of the reference brokers, comma-separated: each gets a column and a ratio;
        /// the first is the one the targets compare with.
        #[arg(long, default_value = "mosquitto,rumqttd", value_delimiter = ',')]
        baseline: Vec<String>,
    },
    /// Make persistent sessions, each subscribed to its own topic, and fill each with QoS 1
    /// messages (bench/recovery.sh); prints one JSON object.
    Fill(FillArgs),
    /// Come back to (a sample of) the sessions `fill` made and count what they receive;
    /// prints one JSON object.
    Check(CheckArgs),
}

/// What `fill` and `check` share.
#[derive(clap::Args)]
struct SessionsArgs {
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Broker MQTT port.
    #[arg(long)]
    port: u16,
    /// Persistent sessions: client ids `<prefix>-0` to `<prefix>-<n-1>`.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// QoS 1 messages per session.
    #[arg(long, default_value_t = 10)]
    per_session: u64,
    /// Client id and topic prefix (topics `bench/<prefix>/<i>`).
    #[arg(long, default_value = "rec")]
    prefix: String,
    /// Sessions made or checked at once (each one connection).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Protocol level: 4 (MQTT 3.1.1) or 5 (MQTT 5).
    #[arg(long, default_value_t = 4)]
    mqtt_version: u8,
    /// MQTT 5 Session Expiry Interval of the sessions, seconds.
    #[arg(long, default_value_t = 7200)]
    session_expiry: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800.0)]
    time_limit: f64,
}

#[derive(clap::Args)]
struct FillArgs {
    #[command(flatten)]
    sessions: SessionsArgs,
    /// Publisher connections (clean sessions), each publishing to its share of the topics.
    #[arg(long, default_value_t = 50)]
    publishers: usize,
    /// Most unacknowledged messages per publisher.
    #[arg(long, default_value_t = 64)]
    max_inflight: usize,
    /// Payload bytes (at least 20).
    #[arg(long, default_value_t = 64)]
    payload: usize,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    sessions: SessionsArgs,
    /// Sessions to come back to, evenly spread (all of them when at least --sessions).
    #[arg(long, default_value_t = 1000)]
    sample: usize,
}

#[derive(clap::Args)]
struct RunArgs {
    /// fanin (a), fanout (b), pairs (c), latency (d), idle (e) or slow (f).
    scenario: Scenario,
    /// Broker host (loopback only in this harness).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Broker MQTT port.
    #[arg(long)]
    port: u16,
    /// Connect over TLS, trusting the CA certificates in this PEM file (the server's
    /// certificate must name `localhost`).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Broker pid, to sample its RSS and CPU from /proc.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Broker name in the report.
    #[arg(long, default_value = "broker")]
    label: String,
    /// Seconds before the window opens.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds of the measurement window (the hold for `idle`).
    #[arg(long, default_value_t = 10.0)]
    window: f64,
    /// Most seconds to wait for the last messages after the window.
    #[arg(long, default_value_t = 20.0)]
    drain: f64,
    /// Give up on the whole run after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    time_limit: f64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Publisher connections.
    #[arg(long)]
    publishers: Option<usize>,
    /// Subscriber connections.
    #[arg(long)]
    subscribers: Option<usize>,
    /// Payload bytes (at least 20).
    #[arg(long)]
    payload: Option<usize>,
    /// Messages per second per publisher; 0 means as fast as the broker takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// QoS 0 or 1.
    #[arg(long)]
    qos: Option<u8>,
    /// Protocol level of every client: 4 (MQTT 3.1.1) or 5 (MQTT 5).
    #[arg(long, default_value_t = 4)]
    mqtt_version: u8,
    /// Keep alive of every client's CONNECT, in seconds; 0 (off) unless a broker refuses it.
    /// Clients send no PINGREQ: a non-zero value must exceed the run.
    #[arg(long, default_value_t = 0)]
    keep_alive: u16,
    /// Most unacknowledged QoS 1 messages per publisher.
    #[arg(long)]
    max_inflight: Option<usize>,
    /// Connections to open (idle).
    #[arg(long)]
    connections: Option<usize>,
    /// Connection attempts in flight at once (idle).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Subscribers open persistent sessions (3.1.1 clean session 0; MQTT 5 clean start 0 and
    /// a Session Expiry Interval of --session-expiry): a durable broker stores their QoS 1
    /// messages. The scenario is reported with a `d`: `pairsd`.
    #[arg(long)]
    persistent_subscribers: bool,
    /// Session Expiry Interval of persistent subscribers (MQTT 5), seconds.
    #[arg(long, default_value_t = 3600)]
    session_expiry: u32,
    /// arbor's admin API (host:port): its store's commits and bytes written are read as the
    /// window opens and closes (`GET /api/v1/store`).
    #[arg(long)]
    admin: Option<SocketAddr>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Table {
            file,
            candidate,
            baseline,
        } => std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))
            .and_then(|jsonl| table::render(&jsonl, &candidate, &baseline))
            .map(|table| print!("{table}")),
        Command::Fill(args) => sessions_command(&args.sessions, |target| {
            recovery::fill(target, args.publishers, args.max_inflight, args.payload)
        }),
        Command::Check(args) => {
            sessions_command(&args.sessions, |target| recovery::check(target, args.sample))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `fill` or `check` (`work`) against the sessions `args` name, under its time limit,
/// and prints its JSON object (one marked `failed` if it failed).
fn sessions_command<F, Fut>(args: &SessionsArgs, work: F) -> Result<()>
where
    F: FnOnce(recovery::Target) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value>>,
{
    let target = recovery::Target {
        addr: SocketAddr::new(args.host, args.port),
        login: Login {
            version: Version::from_level(args.mqtt_version)?,
            keep_alive: 0,
            session_expiry: None,
        },
        session_expiry: args.session_expiry,
        prefix: args.prefix.clone(),
        sessions: args.sessions,
        per_session: args.per_session,
        concurrency: args.concurrency,
    };
    // Up to --concurrency sockets at once, plus the publishers.
    let _ = procstat::raise_nofile_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let limit = secs(args.time_limit);
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(limit, work(target)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("time limit of {limit:?} reached")),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(json) => {
            println!("{json}");
            Ok(())
        }
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"failed": true, "errors": [format!("{e:#}")]})
            );
            Err(e)
        }
    }
}

/// Runs the scenario; a run that fails still prints a JSON object, marked `failed`, so the
/// table shows it.
fn run(args: RunArgs) -> Result<()> {
    let common = Common {
        addr: SocketAddr::new(args.host, args.port),
        label: args.label.clone(),
        broker_pid: args.broker_pid,
        warmup: secs(args.warmup),
        window: secs(args.window),
        drain: secs(args.drain),
        login: Login {
            version: Version::from_level(args.mqtt_version)?,
            keep_alive: args.keep_alive,
            session_expiry: None,
        },
        tls: args.tls_ca.as_deref().map(client::tls_trusting).transpose()?,
        persistent_subscribers: args.persistent_subscribers.then_some(args.session_expiry),
        store: store::Probe {
            admin: args.admin,
            pid: args.broker_pid,
        },
    };
    let params = Params {
        publishers: args.publishers,
        subscribers: args.subscribers,
        payload: args.payload,
        rate: args.rate,
        qos: args.qos.map(QoS::from_level).transpose()?,
        max_inflight: args.max_inflight,
        connections: args.connections,
        concurrency: args.concurrency,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let limit = secs(args.time_limit);
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(limit, scenarios::run(args.scenario, &common, &params)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("time limit of {limit:?} reached")),
        }
    });
    // Tasks still running (only after a failure) must not hold the process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Over TLS a scenario is its own row of the table: `idle_tls`, `fanin_tls`.
    let suffix = if common.tls.is_some() { "_tls" } else { "" };
    let json = match outcome {
        Ok(ref report) => {
            let mut report = report.clone();
            report.scenario.push_str(suffix);
            serde_json::to_string(&report)?
        }
        Err(ref e) => serde_json::json!({
            "scenario": format!("{}{suffix}", common.scenario_name(args.scenario.name())),
            "broker": args.label,
            "qos": args.qos.unwrap_or(if args.scenario == Scenario::Pairs { 1 } else { 0 }),
            "mqtt_version": args.mqtt_version,
            "failed": true,
            "errors": [format!("{e:#}")],
        })
        .to_string(),
    };
    println!("{json}");
    outcome.map(|_| ())
}
