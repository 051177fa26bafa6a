//! `loadgen table`: reads the JSON lines of a `bench/run.sh` sitting and prints, per scenario
//! and metric, arbor's value, each baseline's (Mosquitto, rumqttd) with arbor's ratio to it,
//! issue 8's target and whether arbor meets it.
//!
//! Targets are judged on arbor's run only; a ratio target compares it with the first
//! baseline's run of the same sitting (Mosquitto: the targets name it). A run that failed
//! (setup error, broker gone) shows as `FAILED` and misses every target of its scenario.
//!
//! Runs with MQTT 5 clients (`"mqtt_version": 5`) are their own scenario, `<name>-v5`, with
//! the same rows and targets, plus one row giving each broker's headline figure under MQTT 5
//! divided by its figure under 3.1.1 in the same sitting.
//!
//! Runs of a variant of the candidate, labelled `<candidate>-<variant>` (`arbor-os`: arbor with
//! `durability = "os"`), are their own block, `<scenario>-<variant>`, against the same
//! baselines. A row may take the baselines' value from another scenario of theirs: `pairsd`
//! (persistent subscribers) is judged against Mosquitto's `pairsd` and its `pairs`.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde_json::Value;

/// How a metric is judged.
#[derive(Clone, Copy)]
enum Target {
    /// Shown, not judged.
    None,
    /// arbor / baseline at least this.
    RatioAtLeast(f64),
    /// arbor's value at most this.
    AtMost(f64),
    /// arbor's value at least this.
    AtLeast(f64),
    /// arbor's value at most the baseline's.
    AtMostBaseline,
    /// A boolean field must be true.
    True,
}

/// One row: a value read from each run at a JSON pointer, divided by `scale`.
struct Metric {
    label: &'static str,
    pointer: &'static str,
    scale: f64,
    target: Target,
    target_text: &'static str,
    /// The baselines' value comes from their run of this scenario instead of the row's own
    /// (`pairsd` against Mosquitto's `pairs`).
    baseline_scenario: Option<&'static str>,
}

impl Metric {
    /// The same row with the baselines' value taken from their run of `scenario`.
    const fn against(self, scenario: &'static str) -> Metric {
        Metric {
            baseline_scenario: Some(scenario),
            ..self
        }
    }
}

const fn metric(
    label: &'static str,
    pointer: &'static str,
    scale: f64,
    target: Target,
    text: &'static str,
) -> Metric {
    Metric {
        label,
        pointer,
        scale,
        target,
        target_text: text,
        baseline_scenario: None,
    }
}

const MIB: f64 = 1024.0;
const MS: f64 = 1000.0;

/// The rows of each scenario; the key is the scenario name, plus the QoS for `latency`
/// (and `-v5` for MQTT 5 clients, which have the same rows).
fn metrics(key: &str) -> Vec<Metric> {
    use Target::*;
    let key = key.strip_suffix(V5_SUFFIX).unwrap_or(key);
    let loss = [
        metric("lost", "/lost", 1.0, None, ""),
        metric("duplicated", "/duplicated", 1.0, None, ""),
        metric("reordered", "/reordered", 1.0, None, ""),
        metric("broker CPU %", "/broker_cpu_pct", 1.0, None, ""),
        metric("loadgen CPU %", "/loadgen_cpu_pct", 1.0, None, ""),
        metric("other CPU % (noise)", "/other_cpu_pct", 1.0, None, ""),
    ];
    // A scenario over TLS (`fanin_tls`) shows the rows of the scenario it runs; its goal is
    // the baseline's rate (issue 16), not the plain scenario's.
    let tls = key.ends_with("_tls");
    let key = key.strip_suffix("_tls").unwrap_or(key);
    let mut rows = match key {
        "fanin" => vec![
            metric(
                "delivered msg/s",
                "/deliver_rate",
                1.0,
                RatioAtLeast(1.5),
                ">= 1.5x mosquitto",
            ),
            metric("published msg/s", "/publish_rate", 1.0, None, ""),
            metric(
                "broker RSS peak MiB",
                "/broker_rss_kib/peak",
                MIB,
                AtMost(64.0),
                "<= 64 MiB",
            ),
            metric("latency p99 ms", "/latency_us/p99", MS, None, ""),
        ],
        "fanout" => vec![
            metric(
                "deliveries/s",
                "/deliver_rate",
                1.0,
                AtLeast(495_000.0),
                "all 500k/s (>= 495k)",
            ),
            metric("latency p99 ms", "/latency_us/p99", MS, AtMost(10.0), "<= 10 ms"),
            metric("broker RSS peak MiB", "/broker_rss_kib/peak", MIB, None, ""),
        ],
        "pairs" => vec![
            metric(
                "delivered msg/s",
                "/deliver_rate",
                1.0,
                RatioAtLeast(6.0),
                ">= 6x mosquitto",
            ),
            metric(
                "broker RSS peak MiB",
                "/broker_rss_kib/peak",
                MIB,
                AtMost(256.0),
                "<= 256 MiB",
            ),
            metric("latency p99 ms", "/latency_us/p99", MS, None, ""),
            metric("lost", "/lost", 1.0, AtMost(0.0), "0"),
            metric("unacked", "/unacked", 1.0, None, ""),
        ],
        // pairs with persistent subscribers: every message stored for its subscriber's session
        // by a durable broker (arbor; `arbor-os` is arbor with durability "os"), in memory by
        // Mosquitto (persistence false).
        "pairsd" => vec![
            metric(
                "delivered msg/s",
                "/deliver_rate",
                1.0,
                RatioAtLeast(2.0),
                ">= 2x mosquitto (in memory)",
            ),
            metric(
                "delivered msg/s vs mosquitto pairs",
                "/deliver_rate",
                1.0,
                RatioAtLeast(2.0),
                ">= 2x mosquitto pairs",
            )
            .against("pairs"),
            metric("latency p99 ms", "/latency_us/p99", MS, None, ""),
            metric("lost", "/lost", 1.0, AtMost(0.0), "0"),
            metric("unacked", "/unacked", 1.0, None, ""),
            metric("broker RSS peak MiB", "/broker_rss_kib/peak", MIB, None, ""),
            metric("store commits/s", "/extra/store_commits_per_s", 1.0, None, ""),
            metric(
                "store msgs per commit",
                "/extra/store_msgs_per_commit",
                1.0,
                None,
                "",
            ),
            metric(
                "store KiB written/s",
                "/extra/store_bytes_per_s",
                1024.0,
                None,
                "",
            ),
            metric("store bytes/msg", "/extra/store_bytes_per_msg", 1.0, None, ""),
            metric(
                "disk KiB written/s",
                "/extra/disk_write_bytes_per_s",
                1024.0,
                None,
                "",
            ),
            metric("disk bytes/msg", "/extra/disk_write_bytes_per_msg", 1.0, None, ""),
        ],
        "latency-q0" | "latency-q1" => vec![
            metric("latency p50 µs", "/latency_us/p50", 1.0, None, ""),
            metric(
                "latency p99 µs",
                "/latency_us/p99",
                1.0,
                AtMostBaseline,
                "<= mosquitto",
            ),
            metric("latency p99.9 µs", "/latency_us/p999", 1.0, None, ""),
            metric("latency max µs", "/latency_us/max", 1.0, None, ""),
        ],
        "idle" => vec![
            metric(
                "connections held",
                "/extra/open_after_hold",
                1.0,
                AtLeast(19_000.0),
                "19,000",
            ),
            metric(
                "connect rate /s",
                "/extra/connect_rate",
                1.0,
                AtLeast(5000.0),
                ">= 5,000/s",
            ),
            metric("CONNACK p99 ms", "/extra/connack_p99_ms", 1.0, None, ""),
            metric(
                "RSS per conn KiB",
                "/extra/rss_per_conn_bytes",
                1024.0,
                AtMost(12.0),
                "<= 12 KiB",
            ),
            metric("broker RSS peak MiB", "/broker_rss_kib/peak", MIB, None, ""),
        ],
        "slow" => vec![
            metric(
                "RSS growth, 2nd half KiB",
                "/extra/rss_growth_second_half_kib",
                1.0,
                None,
                "",
            ),
            metric("RSS bounded", "/extra/rss_bounded", 1.0, True, "bounded"),
            metric("broker RSS peak MiB", "/broker_rss_kib/peak", MIB, None, ""),
            metric("slow sub dropped", "/extra/slow_dropped", 1.0, None, ""),
            metric("witness lost", "/lost", 1.0, None, ""),
            metric("witness p99 ms", "/latency_us/p99", MS, None, ""),
        ],
        _ => vec![],
    };
    if tls {
        for m in rows
            .iter_mut()
            .filter(|m| matches!(m.pointer, "/deliver_rate" | "/extra/connect_rate"))
        {
            m.target = Target::RatioAtLeast(1.0);
            m.target_text = ">= mosquitto";
        }
    }
    if key != "idle" {
        let shown: Vec<&str> = rows.iter().map(|m| m.pointer).collect();
        let missing: Vec<Metric> = loss.into_iter().filter(|m| !shown.contains(&m.pointer)).collect();
        rows.extend(missing);
    }
    rows
}

/// The suffix of the key of a run with MQTT 5 clients.
const V5_SUFFIX: &str = "-v5";

/// A block of rows: the scenario key of its runs, and which candidate run it shows.
struct Block {
    /// What the table shows: the scenario key, then `-<variant>` for a variant's runs.
    shown: String,
    /// The scenario key of the runs ([`key_of`]).
    key: String,
    /// The label of the candidate's run: the candidate, or a variant of it (`arbor-os`).
    label: String,
}

/// The scenario key of a run: `latency` is split by QoS, MQTT 5 runs get [`V5_SUFFIX`].
fn key_of(run: &Value) -> String {
    let scenario = run["scenario"].as_str().unwrap_or("?");
    let mut key = if scenario == "latency" {
        format!("latency-q{}", run["qos"].as_u64().unwrap_or(0))
    } else {
        scenario.to_string()
    };
    if run["mqtt_version"].as_u64() == Some(5) {
        key.push_str(V5_SUFFIX);
    }
    key
}

fn read(run: Option<&Value>, m: &Metric) -> Option<f64> {
    let v = run?.pointer(m.pointer)?;
    let raw = v
        .as_f64()
        .or_else(|| v.as_bool().map(|b| if b { 1.0 } else { 0.0 }))?;
    Some(raw / m.scale)
}

fn show(run: Option<&Value>, value: Option<f64>, m: &Metric) -> String {
    match (run, value) {
        (None, _) => "-".into(),
        (Some(r), _) if r["failed"].as_bool() == Some(true) => "FAILED".into(),
        (_, None) => "n/a".into(),
        (_, Some(v)) if matches!(m.target, Target::True) => (if v > 0.5 { "yes" } else { "no" }).into(),
        (_, Some(v)) if v.abs() >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        (_, Some(v)) => format!("{v:.2}"),
    }
}

fn judge(target: Target, arbor: Option<f64>, base: Option<f64>) -> Option<bool> {
    let a = arbor?;
    Some(match target {
        Target::None => return Option::None,
        Target::RatioAtLeast(r) => base.is_some_and(|b| b > 0.0 && a / b >= r),
        Target::AtMost(x) => a <= x,
        Target::AtLeast(x) => a >= x,
        Target::AtMostBaseline => base.is_some_and(|b| a <= b),
        Target::True => a > 0.5,
    })
}

/// Builds the markdown table from JSON lines; `candidate` and `baselines` are broker labels.
/// A baseline with no run in the file gets no column, except the first.
pub fn render(jsonl: &str, candidate: &str, baselines: &[String]) -> Result<String> {
    let mut runs = Vec::new();
    for (n, line) in jsonl.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let run: Value = serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
        runs.push(run);
    }
    // A run labelled `<candidate>-<variant>` (`arbor-os`: arbor with another setting) gets a
    // block of its own, `<scenario>-<variant>`, compared with the same baselines.
    let mut blocks: Vec<Block> = Vec::new();
    for run in &runs {
        let key = key_of(run);
        let label = run["broker"].as_str().unwrap_or_default();
        let variant = label
            .strip_prefix(candidate)
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|v| !v.is_empty());
        let (shown, label) = match variant {
            Some(v) => (format!("{key}-{v}"), label.to_string()),
            None => (key.clone(), candidate.to_string()),
        };
        if !blocks.iter().any(|b| b.shown == shown) {
            blocks.push(Block { shown, key, label });
        }
    }
    let bases: Vec<&str> = baselines
        .iter()
        .enumerate()
        .filter(|(i, b)| *i == 0 || runs.iter().any(|r| r["broker"].as_str() == Some(b.as_str())))
        .map(|(_, b)| b.as_str())
        .collect();
    let find = |key: &str, broker: &str| {
        runs.iter()
            .rev()
            .find(|r| key_of(r) == key && r["broker"].as_str() == Some(broker))
    };
    let mut out = String::new();
    write!(out, "| scenario | metric | {candidate} |")?;
    for b in &bases {
        write!(out, " {b} | {candidate}/{b} |")?;
    }
    writeln!(out, " target | met |")?;
    writeln!(out, "|---|---|---:|{}---|---|", "---:|---:|".repeat(bases.len()))?;
    for block in &blocks {
        let (key, shown) = (block.key.as_str(), block.shown.as_str());
        let a_run = find(key, &block.label);
        let a_failed = a_run.is_none_or(|r| r["failed"].as_bool() == Some(true));
        let rows = metrics(key);
        for m in &rows {
            let a = read(a_run, m);
            write!(out, "| {shown} | {} | {} |", m.label, show(a_run, a, m))?;
            let mut first_base = None;
            let base_key = match m.baseline_scenario {
                Some(other) if key.ends_with(V5_SUFFIX) => format!("{other}{V5_SUFFIX}"),
                Some(other) => other.to_string(),
                None => key.to_string(),
            };
            for (i, b) in bases.iter().enumerate() {
                let b_run = find(&base_key, b);
                let bv = read(b_run, m);
                if i == 0 {
                    first_base = bv;
                }
                let ratio = match (a, bv) {
                    (Some(a), Some(b)) if b != 0.0 && !matches!(m.target, Target::True) => {
                        format!("{:.2}", a / b)
                    }
                    _ => "-".into(),
                };
                write!(out, " {} | {ratio} |", show(b_run, bv, m))?;
            }
            let met = match judge(m.target, a, first_base) {
                _ if a_failed && !matches!(m.target, Target::None) => "NO",
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            writeln!(out, " {} | {met} |", m.target_text)?;
        }
        // MQTT 5 against 3.1.1, per broker, on the scenario's headline figure.
        if let (Some(v3_key), Some(m)) = (key.strip_suffix(V5_SUFFIX), rows.first()) {
            let ratio = |broker: &str| match (read(find(key, broker), m), read(find(v3_key, broker), m)) {
                (Some(v5), Some(v3)) if v3 != 0.0 => format!("{:.2}", v5 / v3),
                _ => "-".into(),
            };
            write!(
                out,
                "| {shown} | {} v5/3.1.1 | {} |",
                m.label,
                ratio(&block.label)
            )?;
            for b in &bases {
                write!(out, " {} | - |", ratio(b))?;
            }
            writeln!(out, "  | |")?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_targets_are_judged_on_the_candidate() {
        let jsonl = r#"{"scenario":"fanin","broker":"arbor","deliver_rate":300000,"broker_rss_kib":{"peak":80000},"lost":0}
{"scenario":"fanin","broker":"mosquitto","deliver_rate":200000,"broker_rss_kib":{"peak":8000},"lost":0}
{"scenario":"latency","qos":1,"broker":"arbor","failed":true,"errors":["x"]}"#;
        let table = render(jsonl, "arbor", &["mosquitto".into(), "rumqttd".into()]).unwrap();
        assert!(
            table.starts_with("| scenario | metric | arbor | mosquitto | arbor/mosquitto | target | met |")
        );
        assert!(
            table.contains("| fanin | delivered msg/s | 300000 | 200000 | 1.50 | >= 1.5x mosquitto | yes |")
        );
        assert!(table.contains("| fanin | broker RSS peak MiB | 78.12 | 7.81 | 10.00 | <= 64 MiB | NO |"));
        assert!(table.contains("| latency-q1 | latency p99 µs | FAILED | - | - | <= mosquitto | NO |"));
        let tls = r#"{"scenario":"fanin_tls","broker":"arbor","deliver_rate":300000,"lost":0}
{"scenario":"fanin_tls","broker":"mosquitto","deliver_rate":250000,"lost":0}"#;
        let table = render(tls, "arbor", &["mosquitto".into()]).unwrap();
        assert!(
            table.contains("| fanin_tls | delivered msg/s | 300000 | 250000 | 1.20 | >= mosquitto | yes |"),
            "{table}"
        );
    }

    #[test]
    fn a_variant_of_the_candidate_has_its_own_block_and_pairsd_compares_with_pairs() {
        let jsonl = r#"{"scenario":"pairs","broker":"arbor","qos":1,"deliver_rate":600000}
{"scenario":"pairs","broker":"mosquitto","qos":1,"deliver_rate":100000}
{"scenario":"pairsd","broker":"arbor","qos":1,"deliver_rate":300000,"lost":0,"extra":{"store_commits_per_s":400}}
{"scenario":"pairsd","broker":"arbor-os","qos":1,"deliver_rate":150000,"lost":0}
{"scenario":"pairsd","broker":"mosquitto","qos":1,"deliver_rate":90000,"lost":0}"#;
        let table = render(jsonl, "arbor", &["mosquitto".into(), "rumqttd".into()]).unwrap();
        assert!(
            table.starts_with("| scenario | metric | arbor | mosquitto | arbor/mosquitto | target | met |")
        );
        assert!(
            table.contains(
                "| pairsd | delivered msg/s | 300000 | 90000 | 3.33 | >= 2x mosquitto (in memory) | yes |"
            ),
            "{table}"
        );
        assert!(table.contains(
            "| pairsd | delivered msg/s vs mosquitto pairs | 300000 | 100000 | 3.00 | >= 2x mosquitto pairs | yes |"
        ));
        assert!(table.contains("| pairsd | store commits/s | 400 | n/a | - |  |  |"));
        assert!(table.contains(
            "| pairsd-os | delivered msg/s vs mosquitto pairs | 150000 | 100000 | 1.50 | >= 2x mosquitto pairs | NO |"
        ));
        assert!(!table.contains("| arbor-os |"));
    }

    #[test]
    fn every_baseline_has_a_column_and_v5_runs_a_ratio_row() {
        let jsonl = r#"{"scenario":"pairs","broker":"arbor","qos":1,"mqtt_version":4,"deliver_rate":600000}
{"scenario":"pairs","broker":"mosquitto","qos":1,"mqtt_version":4,"deliver_rate":100000}
{"scenario":"pairs","broker":"rumqttd","qos":1,"mqtt_version":4,"deliver_rate":200000}
{"scenario":"pairs","broker":"arbor","qos":1,"mqtt_version":5,"failed":true,"errors":["refused"]}
{"scenario":"pairs","broker":"mosquitto","qos":1,"mqtt_version":5,"deliver_rate":90000}
{"scenario":"pairs","broker":"rumqttd","qos":1,"mqtt_version":5,"failed":true,"errors":["x"]}"#;
        let table = render(jsonl, "arbor", &["mosquitto".into(), "rumqttd".into()]).unwrap();
        assert!(table.starts_with(
            "| scenario | metric | arbor | mosquitto | arbor/mosquitto | rumqttd | arbor/rumqttd | target | met |\n|---|---|---:|---:|---:|---:|---:|---|---|\n"
        ));
        assert!(table.contains(
            "| pairs | delivered msg/s | 600000 | 100000 | 6.00 | 200000 | 3.00 | >= 6x mosquitto | yes |"
        ));
        assert!(table.contains(
            "| pairs-v5 | delivered msg/s | FAILED | 90000 | - | FAILED | - | >= 6x mosquitto | NO |"
        ));
        assert!(table.contains("| pairs-v5 | delivered msg/s v5/3.1.1 | - | 0.90 | - | - | - |  | |"));
    }
}
