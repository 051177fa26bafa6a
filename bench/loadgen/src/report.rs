//! The one JSON object a run prints. Every scenario fills the common fields; what only one
//! scenario measures (connect rate, slow-consumer drops) goes in `extra`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock;
use crate::procstat::{cpu_percent, machine_busy_ns, RssKib, Sample, Sampler};
use crate::stats::Latency;

/// The result of one run against one broker.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Scenario name (`fanin`, `fanout`, `pairs`, `latency`, `idle`, `slow`).
    pub scenario: String,
    /// The broker's label, as passed with `--label`.
    pub broker: String,
    /// QoS of the messages.
    pub qos: u8,
    /// The clients' protocol level: 4 (MQTT 3.1.1) or 5.
    pub mqtt_version: u8,
    /// Payload bytes per message.
    pub payload_bytes: usize,
    /// Publisher connections.
    pub publishers: usize,
    /// Subscriber connections.
    pub subscribers: usize,
    /// Length of the measurement window in seconds.
    pub window_s: f64,
    /// Messages published inside the window.
    pub published: u64,
    /// Messages delivered to subscribers inside the window (one per subscriber copy).
    pub delivered: u64,
    /// `published / window_s`.
    pub publish_rate: f64,
    /// `delivered / window_s`: the throughput.
    pub deliver_rate: f64,
    /// Deliveries owed over the whole run (sent × subscribers that should get it).
    pub expected: u64,
    /// Distinct deliveries received over the whole run.
    pub received: u64,
    /// `expected - received`: owed and never received.
    pub lost: u64,
    /// Deliveries of a message the subscriber already had.
    pub duplicated: u64,
    /// Deliveries after a later message of the same publisher.
    pub reordered: u64,
    /// QoS 1 messages the broker never acknowledged.
    pub unacked: u64,
    /// Publish-to-delivery latency of the messages delivered inside the window.
    pub latency_us: Latency,
    /// The broker's resident memory, when `--broker-pid` was given.
    pub broker_rss_kib: Option<RssKib>,
    /// The broker's CPU over the window, percent of one core.
    pub broker_cpu_pct: Option<f64>,
    /// The load generator's own CPU over the window, percent of one core.
    pub loadgen_cpu_pct: f64,
    /// CPU used by everything else on the machine over the window, percent of one core: noise.
    pub other_cpu_pct: Option<f64>,
    /// Scenario-specific measurements.
    pub extra: Map<String, Value>,
    /// Every error a client met, one line each (capped).
    pub errors: Vec<String>,
}

/// Errors kept per run; more are counted, not listed.
const MAX_ERRORS: usize = 20;

impl Report {
    /// Adds an error line, keeping at most [`MAX_ERRORS`] and counting the rest.
    pub fn error(&mut self, line: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(line);
        } else {
            let more = self.extra.entry("errors_not_listed").or_insert(Value::from(0u64));
            *more = Value::from(more.as_u64().unwrap_or(0) + 1);
        }
    }

    /// Sets a scenario-specific field.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.extra.insert(key.to_string(), value.into());
    }

    /// Fills the rates from the counts and the window.
    pub fn set_rates(&mut self) {
        let secs = self.window_s.max(1e-9);
        self.publish_rate = (self.published as f64 / secs).round();
        self.deliver_rate = (self.delivered as f64 / secs).round();
    }
}

/// Broker and load-generator readings at the window's edges, turned into report fields.
pub struct Usage {
    /// Samples the broker, if its pid was given.
    pub broker: Option<Sampler>,
    /// Samples this process.
    pub loadgen: Option<Sampler>,
    /// Broker reading before any client connected.
    pub broker_start: Option<Sample>,
    window_start: Marks,
    window_end: Marks,
}

/// Readings at one edge of the window: broker, load generator, whole machine.
#[derive(Clone, Copy, Default)]
struct Marks {
    broker: Option<Sample>,
    loadgen: Option<Sample>,
    machine: Option<Sample>,
}

impl Usage {
    /// Starts sampling; takes the broker's starting reading.
    pub fn start(broker: Option<Sampler>, loadgen: Option<Sampler>) -> Usage {
        let broker_start = broker.as_ref().and_then(Sampler::now);
        Usage {
            broker,
            loadgen,
            broker_start,
            window_start: Marks::default(),
            window_end: Marks::default(),
        }
    }

    fn marks(&self) -> Marks {
        Marks {
            broker: self.broker.as_ref().and_then(Sampler::now),
            loadgen: self.loadgen.as_ref().and_then(Sampler::now),
            machine: machine_busy_ns().ok().map(|cpu_ns| Sample {
                at_ns: clock::now_ns(),
                rss: 0,
                cpu_ns,
            }),
        }
    }

    /// Call as the window opens.
    pub fn mark_window_start(&mut self) {
        self.window_start = self.marks();
    }

    /// Call as the window closes.
    pub fn mark_window_end(&mut self) {
        self.window_end = self.marks();
    }

    /// The broker's RSS now, in bytes.
    pub fn broker_rss_now(&self) -> Option<u64> {
        self.broker.as_ref().and_then(Sampler::now).map(|s| s.rss)
    }

    /// Fills the CPU and RSS fields; `after_close` is the broker's RSS after the clients left.
    pub fn fill(&self, report: &mut Report, after_close: Option<u64>) {
        let (start, end) = (self.window_start, self.window_end);
        if let (Some(from), Some(to)) = (start.broker, end.broker) {
            report.broker_cpu_pct = Some(cpu_percent(&from, &to));
        }
        if let (Some(from), Some(to)) = (start.loadgen, end.loadgen) {
            report.loadgen_cpu_pct = cpu_percent(&from, &to);
        }
        if let (Some(from), Some(to)) = (start.machine, end.machine) {
            let other =
                cpu_percent(&from, &to) - report.broker_cpu_pct.unwrap_or(0.0) - report.loadgen_cpu_pct;
            report.other_cpu_pct = Some((other.max(0.0) * 10.0).round() / 10.0);
        }
        if let (Some(sampler), Some(start)) = (&self.broker, self.broker_start) {
            report.broker_rss_kib = Some(RssKib {
                start: start.rss / 1024,
                peak: sampler.peak_rss() / 1024,
                end: end.broker.map_or(0, |s| s.rss / 1024),
                after_close: after_close.unwrap_or(0) / 1024,
            });
        }
    }
}
