//! The admin API's figures and rules against a live broker: `stats`, `metrics`, `/metrics`
//! (Prometheus text), `$SYS` stats, JSON errors with their status, ctl's one-line failures and
//! the bearer-token rule.

mod common;

use std::collections::HashMap;

use arbor::cli::{ClientsCommand, CtlCommand};
use arbor_actors::config::{BrokerConfig, Secret};
use common::client::{connect, receive, subscribe, wait_for};
use common::{eventually, test_config, TestBroker};
use rumqttc::{Event, Packet, QoS};
use serde_json::Value;

async fn http(method: reqwest::Method, url: &str, token: Option<&str>) -> (reqwest::StatusCode, String) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("admin API answers");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn get_json(broker: &TestBroker, path: &str) -> (reqwest::StatusCode, Value) {
    let (status, body) = http(reqwest::Method::GET, &format!("{}{path}", broker.admin), None).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (status, json)
}

/// Parses OpenMetrics text: every sample line is `name{labels} value`; returns them by
/// `name{labels}`, and checks each family has a `# TYPE` line.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut types = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
            let name = series.split('{').next().unwrap_or(series);
            let family = name.strip_suffix("_total").unwrap_or(name);
            assert!(types.contains_key(family), "no # TYPE for {line}");
            samples.insert(series.to_string(), value);
        }
    }
    samples
}

#[tokio::test]
async fn stats_and_metrics_move_when_messages_flow() {
    let broker = TestBroker::start().await;
    let (_, before) = get_json(&broker, "/api/v1/metrics").await;
    // `$SYS` values are retained messages too.
    let (_, stats_before) = get_json(&broker, "/api/v1/stats").await;
    let retained_before = stats_before["retained/count"].as_u64().unwrap();
    let mut sub = connect(&broker, "fig-sub", true, None).await;
    subscribe(&mut sub, "fig/#").await;
    let publisher = connect(&broker, "fig-pub", true, None).await;
    publisher
        .client
        .publish("fig/1", QoS::AtLeastOnce, true, "x")
        .await
        .unwrap();
    receive(&mut sub).await;

    let stats: Value =
        serde_json::from_str(&broker.ctl(CtlCommand::Stats { json: true }).await.unwrap()).unwrap();
    assert_eq!(stats["connections/count"], 2, "{stats}");
    assert_eq!(stats["connections/max"], 2);
    assert_eq!(stats["sessions/count"], 2);
    assert_eq!(stats["topics/count"], 1);
    assert_eq!(stats["subscriptions/count"], 1);
    assert_eq!(stats["retained/count"], retained_before + 1);
    assert_eq!(stats["mqueue/dropped"], 0);
    let table = broker.ctl(CtlCommand::Stats { json: false }).await.unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("connections/count") && l.ends_with(" 2")),
        "{table}"
    );

    let after: Value =
        serde_json::from_str(&broker.ctl(CtlCommand::Metrics { json: true }).await.unwrap()).unwrap();
    let grew = |name: &str| after[name].as_u64().unwrap() > before[name].as_u64().unwrap();
    for name in [
        "messages/received",
        "messages/sent",
        "bytes/received",
        "bytes/sent",
        "packets/received",
        "packets/sent",
        "connections/accepted",
    ] {
        assert!(grew(name), "{name} did not grow: {before} -> {after}");
    }
    assert_eq!(after["messages/retained"], retained_before + 1);
    assert!(after.get("packets/publish/received").is_some(), "{after}");
    let table = broker.ctl(CtlCommand::Metrics { json: false }).await.unwrap();
    assert!(table.contains("messages/received"), "{table}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn prometheus_text_parses_counts_and_shows_supervisor_restarts() {
    let broker = TestBroker::start().await;
    let url = format!("{}/metrics", broker.admin);
    let response = reqwest::get(&url).await.unwrap();
    assert!(response.status().is_success());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE arbor_messages_received counter"), "{text}");
    assert!(text.contains("# TYPE arbor_connections gauge"), "{text}");
    let first = parse_prometheus(&text);
    let sm_sup = "arbor_supervisor_restarts_total{path=\"broker_sup/sm_sup\"}";
    assert_eq!(first.get(sm_sup), Some(&0.0), "{text}");

    let mut sub = connect(&broker, "prom-sub", true, None).await;
    subscribe(&mut sub, "prom/#").await;
    sub.client
        .publish("prom/1", QoS::AtMostOnce, false, "x")
        .await
        .unwrap();
    receive(&mut sub).await;
    broker
        .ctl(CtlCommand::Crash {
            path: "broker_sup/sm_sup/sm/0".into(),
        })
        .await
        .unwrap();
    eventually("sm_sup restarted its pool", || {
        broker.node("sm_sup").child_restarts == Some(1)
    })
    .await;

    let later = parse_prometheus(&reqwest::get(&url).await.unwrap().text().await.unwrap());
    let received = "arbor_messages_received_total";
    assert!(later[received] > first[received], "{received} did not grow");
    assert_eq!(later[sm_sup], 1.0);
    assert_eq!(later["arbor_connections"], 1.0);
    assert_eq!(later["arbor_subscriptions"], 1.0);
    let listener = later
        .keys()
        .find(|k| k.starts_with("arbor_listener_connections{"))
        .expect("a listener gauge");
    assert_eq!(later[listener], 1.0);
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn sys_publishes_stats_and_metrics_under_the_node() {
    let broker = TestBroker::start().await;
    let mut watcher = connect(&broker, "sys-watch", true, None).await;
    // Retained since the first tick at start, so they arrive right after the SUBACK.
    watcher
        .client
        .subscribe("$SYS/brokers/+/stats/#", QoS::AtMostOnce)
        .await
        .unwrap();
    watcher
        .client
        .subscribe("$SYS/brokers/+/metrics/messages/#", QoS::AtMostOnce)
        .await
        .unwrap();
    let node = &broker.handle.api.config().node.name;
    let mut wanted = vec![
        format!("$SYS/brokers/{node}/stats/connections/count"),
        format!("$SYS/brokers/{node}/stats/subscriptions/max"),
        format!("$SYS/brokers/{node}/metrics/messages/received"),
    ];
    while !wanted.is_empty() {
        let event = wait_for(&mut watcher.events, |e| {
            matches!(e, Event::Incoming(Packet::Publish(_)))
        })
        .await;
        if let Event::Incoming(Packet::Publish(p)) = event {
            assert!(std::str::from_utf8(&p.payload).unwrap().parse::<u64>().is_ok());
            wanted.retain(|t| *t != p.topic);
        }
    }
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn errors_are_json_with_a_status_and_ctl_fails_with_one_line() {
    let broker = TestBroker::start().await;
    for (method, path, status) in [
        (reqwest::Method::GET, "/api/v1/clients/nobody", 404),
        (reqwest::Method::DELETE, "/api/v1/clients/nobody", 404),
        (reqwest::Method::GET, "/api/v1/sessions/nobody", 404),
        (reqwest::Method::GET, "/api/v1/subscriptions/nobody", 404),
        (reqwest::Method::GET, "/api/v1/nothing-here", 404),
        (reqwest::Method::GET, "/api/v1/clients?limit=many", 400),
        (reqwest::Method::PUT, "/api/v1/clients", 405),
        (reqwest::Method::POST, "/api/v1/subscriptions/nobody", 400),
    ] {
        let (got, body) = http(method.clone(), &format!("{}{path}", broker.admin), None).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {body}");
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    let _c = connect(&broker, "err-c", true, None).await;
    let bad_qos = reqwest::Client::new()
        .post(format!("{}/api/v1/subscriptions/err-c", broker.admin))
        .json(&serde_json::json!({ "topic": "a", "qos": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_qos.status(), 400);
    let bad_filter = reqwest::Client::new()
        .post(format!("{}/api/v1/subscriptions/err-c", broker.admin))
        .json(&serde_json::json!({ "topic": "a/#/b", "qos": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_filter.status(), 400);

    let err = broker
        .ctl(CtlCommand::Clients(ClientsCommand::Show {
            client_id: "nobody".into(),
            json: false,
        }))
        .await
        .unwrap_err();
    let line = format!("{err:#}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("no connected client `nobody`") && line.contains("404"),
        "{line}"
    );

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(["ctl", "--admin", &broker.admin, "clients", "kick", "nobody"])
        .env_remove("ARBOR_ADMIN_TOKEN")
        .output()
        .await
        .expect("run arbor ctl");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("arbor ctl: no connected client `nobody`"),
        "{stderr}"
    );
    broker.handle.shutdown().await;
}

/// An empty actor path is named as such, by the API and by `ctl kill ''`, rather than showing
/// the route it fell into.
#[tokio::test]
async fn an_empty_actor_path_says_so() {
    let broker = TestBroker::start().await;
    for path in ["/api/v1/actors//kill", "/api/v1/actors/crash"] {
        let (status, body) = http(reqwest::Method::POST, &format!("{}{path}", broker.admin), None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("the actor path is empty"), "{path}: {body}");
    }
    for path in ["", "/"] {
        let err = broker
            .ctl(CtlCommand::Kill { path: path.into() })
            .await
            .expect_err("an empty path");
        assert!(err.to_string().starts_with("the path is empty"), "{err}");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(["ctl", "--admin", &broker.admin, "kill", ""])
        .output()
        .await
        .expect("run arbor ctl");
    assert_eq!(out.status.code(), Some(2), "a bad argument");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the path is empty"), "{stderr}");
    assert!(stderr.contains("Usage: arbor ctl kill <PATH>"), "{stderr}");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn a_configured_token_is_required_on_every_endpoint() {
    let mut config = test_config();
    config.admin.token = Some("s3cret".parse::<Secret>().expect("token"));
    let broker = TestBroker::with_config(config).await;
    for path in ["/api/v1/status", "/api/v1/clients", "/metrics"] {
        let url = format!("{}{path}", broker.admin);
        for token in [None, Some("wrong")] {
            let (status, body) = http(reqwest::Method::GET, &url, token).await;
            assert_eq!(status, 401, "{path} with {token:?}: {body}");
            assert!(body.contains("bearer token"), "{body}");
        }
        let (status, body) = http(reqwest::Method::GET, &url, Some("s3cret")).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    broker.handle.shutdown().await;
}

#[test]
fn validation_refuses_a_public_admin_bind_without_a_token() {
    let mut config = BrokerConfig::defaults();
    config.admin.bind = "0.0.0.0:18083".parse().unwrap();
    let err = config.validate().expect_err("a public bind needs a token");
    assert_eq!(err.key, "admin.token");
    assert!(err.to_string().contains("0.0.0.0:18083"), "{err}");
    config.admin.token = Some("s3cret".parse().unwrap());
    config.validate().expect("a public bind with a token is fine");
    config.admin.token = None;
    config.admin.bind = "127.0.0.1:18083".parse().unwrap();
    config.validate().expect("loopback needs no token");
}
