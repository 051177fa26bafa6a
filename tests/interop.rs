//! Interoperability with external clients: mosquitto_pub/mosquitto_sub and python paho-mqtt,
//! MQTT 3.1 and 3.1.1, QoS 0, 1 and 2. Where a client is missing the test says so in one line
//! and passes, unless `ARBOR_INTEROP=require` (as `.ci/run` sets it after installing them):
//! see `common::interop`.

mod common;

use common::{interop, TestBroker};
use tokio::process::Command;

fn mosquitto(tool: &str, port: &str, version: &str, qos: &str, id: &str) -> Command {
    let mut command = Command::new(tool);
    command.args(["-h", "127.0.0.1", "-p", port, "-V", version, "-q", qos, "-i", id]);
    command
}

/// One round: mosquitto_sub (`sub_version`, QoS `qos`) subscribes first, mosquitto_pub
/// (`pub_version`, QoS `qos`) publishes once it is subscribed; the subscriber prints
/// `retain qos topic payload` and must see exactly what was sent, live (retain 0).
async fn round(broker: &TestBroker, sub_version: &str, pub_version: &str, qos: &str) {
    let port = broker.mqtt.port().to_string();
    let short = |v: &str| v.trim_start_matches("mqttv").to_string();
    // Short: MQTT 3.1 allows client ids of at most 23 bytes.
    let label = format!("{}-{}-q{qos}", short(sub_version), short(pub_version));
    let topic = format!("interop/{label}");
    let message = format!("hello {label}");
    let mut sub = mosquitto("mosquitto_sub", &port, sub_version, qos, &format!("sub-{label}"));
    sub.args(["-t", &topic, "-C", "1", "-W", "10", "-F", "%r %q %t %p"]);
    let sub = tokio::spawn({
        let label = label.clone();
        async move { interop::finish(&mut sub, &format!("mosquitto_sub {label}")).await }
    });
    broker.subscribed(&topic).await;
    let mut publish = mosquitto("mosquitto_pub", &port, pub_version, qos, &format!("pub-{label}"));
    publish.args(["-t", &topic, "-m", &message]);
    let published = interop::finish(&mut publish, &format!("mosquitto_pub {label}")).await;
    assert!(published.status.success(), "mosquitto_pub {label}: {published:?}");
    let got = sub.await.expect("sub task");
    assert!(got.status.success(), "mosquitto_sub {label}: {got:?}");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        format!("0 {qos} {topic} {message}"),
        "{label}"
    );
}

/// mosquitto_sub receives what mosquitto_pub sends, for MQTT 3.1 and 3.1.1 and QoS 0, 1, 2
/// (all rounds at once, each on its own topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_mqttv31_and_mqttv311_at_qos_0_1_2() {
    if !interop::require_programs(
        &["mosquitto_pub", "mosquitto_sub"],
        "mosquitto clients, MQTT 3.1/3.1.1 at QoS 0, 1, 2",
    ) {
        return;
    }
    let broker = TestBroker::start().await;
    let mut rounds = Vec::new();
    for version in ["mqttv31", "mqttv311"] {
        for qos in ["0", "1", "2"] {
            rounds.push(round(&broker, version, version, qos));
        }
    }
    // 3.1 and 3.1.1 clients talk to each other through the broker.
    rounds.push(round(&broker, "mqttv31", "mqttv311", "2"));
    rounds.push(round(&broker, "mqttv311", "mqttv31", "1"));
    futures::future::join_all(rounds).await;
}

/// A retained message from a mosquitto_pub reaches a later mosquitto_sub with the retain flag
/// [MQTT-3.3.1-6, -8], across protocol versions.
#[tokio::test]
async fn mosquitto_retained_message_reaches_a_later_subscriber() {
    if !interop::require_programs(
        &["mosquitto_pub", "mosquitto_sub"],
        "mosquitto clients, a retained message across versions",
    ) {
        return;
    }
    let broker = TestBroker::start().await;
    let port = broker.mqtt.port().to_string();
    for (pub_version, sub_version) in [("mqttv31", "mqttv311"), ("mqttv311", "mqttv31")] {
        let topic = format!("interop/retained/{pub_version}");
        let mut publish = mosquitto("mosquitto_pub", &port, pub_version, "1", "ret-pub");
        publish.args(["-r", "-t", &topic, "-m", "kept"]);
        let published = interop::finish(&mut publish, "mosquitto_pub -r").await;
        assert!(published.status.success(), "{published:?}");
        let mut sub = mosquitto("mosquitto_sub", &port, sub_version, "2", "ret-sub");
        sub.args(["-t", &topic, "-C", "1", "-W", "10", "-F", "%r %q %p"]);
        let got = interop::finish(&mut sub, "mosquitto_sub").await;
        assert!(got.status.success(), "{got:?}");
        assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "1 1 kept");
    }
}

const PAHO: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
port, proto = int(sys.argv[1]), {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311}[sys.argv[2]]
got, done, subscribed = [], threading.Event(), threading.Event()
base = "paho" + sys.argv[2]
kwargs = {"client_id": "paho-" + sys.argv[2], "protocol": proto}
if hasattr(mqtt, "CallbackAPIVersion"):
    kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
c = mqtt.Client(**kwargs)
def on_connect(client, userdata, flags, rc):
    assert rc == 0, rc
    client.subscribe(base + "/#", qos=2)
def on_subscribe(client, userdata, mid, granted):
    assert list(granted) == [2], granted
    subscribed.set()
def on_message(client, userdata, msg):
    got.append((msg.topic, msg.payload.decode(), msg.qos, msg.retain))
    if len(got) == 2:
        done.set()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
assert subscribed.wait(10), "no SUBACK"
c.publish(base + "/1", "one", qos=1).wait_for_publish(10)
c.publish(base + "/2", "two", qos=2).wait_for_publish(10)
assert done.wait(10), got
c.disconnect(); c.loop_stop()
assert sorted(got) == [(base + "/1", "one", 1, False), (base + "/2", "two", 2, False)], got
print("ok")
"#;

/// python paho-mqtt, MQTT 3.1 and 3.1.1: connect, subscribe (granted QoS 2), publish to
/// itself at QoS 1 and 2 (both flows complete), receive both at their QoS.
#[tokio::test]
async fn paho_mqttv31_and_mqttv311_round_trip_qos_1_and_2() {
    if !interop::require_python_module("paho.mqtt", "python paho-mqtt, MQTT 3.1/3.1.1 at QoS 1, 2") {
        return;
    }
    let broker = TestBroker::start().await;
    let port = broker.mqtt.port().to_string();
    let runs = ["31", "311"].map(|proto| {
        let port = port.clone();
        async move {
            let mut python = Command::new("python3");
            python.args(["-c", PAHO, &port, proto]);
            (
                proto,
                interop::finish(&mut python, &format!("paho MQTTv{proto}")).await,
            )
        }
    });
    for (proto, out) in futures::future::join_all(runs).await {
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "paho MQTTv{proto}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
