//! Interoperability with external clients: mosquitto_pub/mosquitto_sub and python paho-mqtt,
//! MQTT 3.1 and 3.1.1, QoS 0, 1 and 2. `.ci/run` installs them; missing tools fail the test
//! with that hint rather than passing silently.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::TestBroker;
use tokio::process::Command;

/// The tool can be started (`--help` exits 1 for mosquitto's clients, so only spawning counts).
fn require(tool: &str) {
    let started = std::process::Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        started.is_ok(),
        "`{tool}` is missing: run .ci/run (it installs mosquitto-clients and paho-mqtt)"
    );
}

/// mosquitto_sub receives what mosquitto_pub sends, per protocol version and QoS. The message is
/// retained so the order of subscribe and publish does not matter (no sleeps).
#[tokio::test]
async fn mosquitto_clients_mqttv31_and_mqttv311_at_qos_0_1_2() {
    require("mosquitto_pub");
    require("mosquitto_sub");
    let broker = TestBroker::start().await;
    let port = broker.mqtt.port().to_string();
    for version in ["mqttv31", "mqttv311"] {
        for qos in ["0", "1", "2"] {
            let topic = format!("interop/{version}/{qos}");
            let message = format!("hello {version} qos {qos}");
            let publish = Command::new("mosquitto_pub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-V",
                    version,
                    "-q",
                    qos,
                    "-r",
                    "-t",
                    &topic,
                    "-m",
                    &message,
                ])
                .output()
                .await
                .expect("mosquitto_pub runs");
            assert!(
                publish.status.success(),
                "mosquitto_pub {version} q{qos}: {publish:?}"
            );
            let sub = Command::new("mosquitto_sub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-V",
                    version,
                    "-q",
                    qos,
                    "-t",
                    &topic,
                    "-C",
                    "1",
                    "-W",
                    "10",
                ])
                .output();
            let sub = tokio::time::timeout(Duration::from_secs(15), sub)
                .await
                .expect("in time")
                .expect("runs");
            assert!(sub.status.success(), "mosquitto_sub {version} q{qos}: {sub:?}");
            assert_eq!(String::from_utf8_lossy(&sub.stdout).trim(), message);
        }
    }
}

const PAHO: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
port, proto = int(sys.argv[1]), {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311}[sys.argv[2]]
got, done, subscribed = [], threading.Event(), threading.Event()
kwargs = {"client_id": "paho-" + sys.argv[2], "protocol": proto}
if hasattr(mqtt, "CallbackAPIVersion"):
    kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
c = mqtt.Client(**kwargs)
def on_connect(client, userdata, flags, rc):
    assert rc == 0, rc
    client.subscribe("paho/#", qos=2)
def on_subscribe(client, userdata, mid, granted):
    subscribed.set()
def on_message(client, userdata, msg):
    got.append((msg.topic, msg.payload.decode(), msg.qos))
    if len(got) == 2:
        done.set()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
assert subscribed.wait(10), "no SUBACK"
c.publish("paho/1", "one", qos=1)
c.publish("paho/2", "two", qos=2)
assert done.wait(10), got
c.disconnect(); c.loop_stop()
assert sorted(got) == [("paho/1", "one", 1), ("paho/2", "two", 2)], got
print("ok")
"#;

/// python paho-mqtt, MQTT 3.1 and 3.1.1: connect, subscribe, publish to itself at QoS 1 and 2.
#[tokio::test]
async fn paho_mqttv31_and_mqttv311_round_trip_qos_1_and_2() {
    let paho = std::process::Command::new("python3")
        .args(["-c", "import paho.mqtt"])
        .status();
    assert!(
        paho.is_ok_and(|s| s.success()),
        "python paho-mqtt is missing: run .ci/run (python3 -m pip install paho-mqtt)"
    );
    let broker = TestBroker::start().await;
    let port = broker.mqtt.port().to_string();
    for proto in ["31", "311"] {
        let run = Command::new("python3").args(["-c", PAHO, &port, proto]).output();
        let out = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("in time")
            .expect("python runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "paho MQTTv{proto}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
