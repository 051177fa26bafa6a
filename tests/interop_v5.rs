//! MQTT 5 with real clients: rumqttc's v5 client, mosquitto_pub/mosquitto_sub `-V mqttv5` (with
//! `-D` properties) and python paho-mqtt with `protocol=MQTTv5`, and each of them mixed with
//! 3.1.1. The external clients skip with a visible line where they are missing, unless
//! `ARBOR_INTEROP=require` (see `common::interop`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{interop, TestBroker};
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(10);

/// Polls `events` until `want` picks something out of an incoming packet.
async fn until<T>(events: &mut EventLoop, mut want: impl FnMut(Packet) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(packet)) => {
                    if let Some(found) = want(packet) {
                        return found;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => panic!("rumqttc v5: {e}"),
            }
        }
    })
    .await
    .expect("within 10 s")
}

/// rumqttc v5: CONNACK's properties; a subscription with an identifier; a PUBLISH whose
/// properties (content type, user properties, response topic, correlation data) arrive
/// unchanged with the identifier [MQTT-3.3.2-17..20], [MQTT-3.3.4-3].
#[tokio::test]
async fn rumqttc_v5_round_trip_with_properties() {
    let broker = TestBroker::start().await;
    let mut options = MqttOptions::new("rumqttc-v5", "127.0.0.1", broker.mqtt.port());
    options.set_session_expiry_interval(Some(60));
    let (client, mut events) = AsyncClient::new(options, 10);
    let props = until(&mut events, |p| match p {
        Packet::ConnAck(ack) => Some(ack.properties),
        _ => None,
    })
    .await
    .expect("CONNACK properties");
    assert_eq!(
        props.receive_max,
        Some(common::test_config().mqtt.receive_maximum)
    );
    let sub_props = rumqttc::v5::mqttbytes::v5::SubscribeProperties {
        id: Some(42),
        user_properties: Vec::new(),
    };
    client
        .subscribe_with_properties("r5/#", QoS::AtLeastOnce, sub_props)
        .await
        .unwrap();
    until(&mut events, |p| matches!(p, Packet::SubAck(_)).then_some(())).await;
    let sent = PublishProperties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        response_topic: Some("r5/reply".into()),
        correlation_data: Some(Bytes::from_static(b"id-1")),
        ..PublishProperties::default()
    };
    client
        .publish_with_properties("r5/a", QoS::AtLeastOnce, false, "hi", sent)
        .await
        .unwrap();
    let got = until(&mut events, |p| match p {
        Packet::Publish(p) => Some(p),
        _ => None,
    })
    .await;
    let props = got.properties.expect("properties");
    assert_eq!(&got.payload[..], b"hi");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.user_properties, vec![("k".to_string(), "v".to_string())]);
    assert_eq!(props.response_topic.as_deref(), Some("r5/reply"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"id-1"[..]));
    assert_eq!(props.subscription_identifiers, vec![42]);
}

/// mosquitto_sub `-V mqttv5` prints the content type, user property and expiry that
/// mosquitto_pub `-V mqttv5 -D publish ...` sent; and a 3.1.1 mosquitto_sub gets the same
/// message without them, while a v5 one hears a 3.1.1 publisher.
#[tokio::test]
async fn mosquitto_clients_mqttv5_properties_and_mixed_versions() {
    if !interop::require_programs(&["mosquitto_pub", "mosquitto_sub"], "mosquitto clients, MQTT 5") {
        return;
    }
    let broker = TestBroker::start().await;
    let port = broker.mqtt.port().to_string();
    let sub = |id: &str, version: &str, topic: &str, format: &str| {
        let mut c = Command::new("mosquitto_sub");
        c.args(["-h", "127.0.0.1", "-p", &port, "-V", version, "-q", "1", "-i", id]);
        c.args(["-t", topic, "-C", "1", "-W", "10", "-F", format]);
        c
    };
    let mut sub5 = sub("m5-sub", "mqttv5", "m5/props", "%q %t %p %C %P %E");
    let mut sub3 = sub("m3-sub", "mqttv311", "m5/props", "%q %t %p");
    let mut sub5_from3 = sub("m53-sub", "mqttv5", "m5/from3", "%q %t %p");
    let subs = [
        tokio::spawn(async move { interop::finish(&mut sub5, "mosquitto_sub v5").await }),
        tokio::spawn(async move { interop::finish(&mut sub3, "mosquitto_sub 3.1.1").await }),
        tokio::spawn(async move { interop::finish(&mut sub5_from3, "mosquitto_sub v5 from 3.1.1").await }),
    ];
    broker.subscribed("m5/props").await;
    broker.subscribed("m5/from3").await;
    let mut publish = Command::new("mosquitto_pub");
    publish.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        "mqttv5",
        "-q",
        "1",
        "-i",
        "m5-pub",
    ]);
    publish.args(["-t", "m5/props", "-m", "hello"]);
    publish.args(["-D", "publish", "content-type", "text/plain"]);
    publish.args(["-D", "publish", "user-property", "k", "v"]);
    publish.args(["-D", "publish", "message-expiry-interval", "300"]);
    let out = interop::finish(&mut publish, "mosquitto_pub v5").await;
    assert!(out.status.success(), "{out:?}");
    let mut publish3 = Command::new("mosquitto_pub");
    publish3.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        "mqttv311",
        "-q",
        "1",
        "-i",
        "m3-pub",
    ]);
    publish3.args(["-t", "m5/from3", "-m", "old"]);
    let out = interop::finish(&mut publish3, "mosquitto_pub 3.1.1").await;
    assert!(out.status.success(), "{out:?}");
    let mut lines = Vec::new();
    for s in subs {
        let out = s.await.expect("task");
        assert!(out.status.success(), "{out:?}");
        lines.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let v5 = &lines[0];
    assert!(v5.starts_with("1 m5/props hello text/plain k:v "), "{v5}");
    let expiry: u32 = v5.rsplit(' ').next().unwrap().parse().expect("an expiry");
    assert!((290..=300).contains(&expiry), "{v5}");
    assert_eq!(lines[1], "1 m5/props hello");
    assert_eq!(lines[2], "1 m5/from3 old");
}

const PAHO_V5: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions
port = int(sys.argv[1])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
state = {"got": [], "acks": {}}
connected, subscribed, done = threading.Event(), threading.Event(), threading.Event()
def on_connect(client, userdata, flags, reason, props):
    assert reason == 0, reason
    state["assigned"] = props.AssignedClientIdentifier
    connected.set()
def on_subscribe(client, userdata, mid, reasons, props):
    state["granted"] = [r.value for r in reasons]
    subscribed.set()
def on_message(client, userdata, msg):
    state["got"].append((msg.topic, msg.payload.decode(), msg.properties.UserProperty))
    done.set()
def on_publish(client, userdata, mid, reason, props):
    state["acks"][mid] = reason.value
c.on_connect, c.on_subscribe, c.on_message, c.on_publish = on_connect, on_subscribe, on_message, on_publish
connect_props = Properties(PacketTypes.CONNECT)
connect_props.SessionExpiryInterval = 30
c.connect("127.0.0.1", port, keepalive=30, clean_start=True, properties=connect_props)
c.loop_start()
assert connected.wait(10), "no CONNACK"
assert state["assigned"].startswith("arbor-"), state
# No Local on its own topic, plain on the other.
c.subscribe([("pv5/own", SubscribeOptions(qos=1, noLocal=True)), ("pv5/echo", SubscribeOptions(qos=1))])
assert subscribed.wait(10), "no SUBACK"
assert state["granted"] == [1, 1], state
props = Properties(PacketTypes.PUBLISH)
props.UserProperty = ("from", "paho")
own = c.publish("pv5/own", "mine", qos=1)
echo = c.publish("pv5/echo", "back", qos=1, properties=props)
nobody = c.publish("pv5/nobody", "lost", qos=1)
for m in (own, echo, nobody):
    m.wait_for_publish(10)
assert done.wait(10), state
c.disconnect(); c.loop_stop()
assert state["got"] == [("pv5/echo", "back", [("from", "paho")])], state
assert state["acks"][nobody.mid] == 0x10, state
print("ok")
"#;

/// python paho-mqtt with MQTTv5: an assigned client id, No Local honoured [MQTT-3.8.3-3], user
/// properties forwarded, PUBACK 0x10 when nobody subscribes.
#[tokio::test]
async fn paho_mqttv5_assigned_id_no_local_user_properties_and_reason_codes() {
    if !interop::require_python_module("paho.mqtt", "python paho-mqtt, MQTT 5") {
        return;
    }
    let broker = TestBroker::start().await;
    let mut python = Command::new("python3");
    python.args(["-c", PAHO_V5, &broker.mqtt.port().to_string()]);
    let out = interop::finish(&mut python, "paho MQTTv5").await;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "paho MQTTv5: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
