//! Wills and keepalive: when the broker publishes a client's will (socket dropped, keepalive
//! expired, connection taken over) and when it must not (after DISCONNECT); PINGREQ.

mod common;

use std::time::Duration;

use arbor_actors::codec::{ConnectReturnCode, Packet};
use common::client::{closed, connect, no_publish_within, options, receive, subscribe_qos, Client};
use common::raw::{connect_packet, Raw};
use common::TestBroker;
use rumqttc::{LastWill, QoS};
use tokio::time::Instant;

/// An absence cannot be awaited: how long a test watches for a delivery that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// A client subscribed to `will/#` at QoS 2, to see wills arrive.
async fn watcher(broker: &TestBroker, id: &str) -> Client {
    let mut c = connect(broker, id, true, None).await;
    subscribe_qos(&mut c, "will/#", QoS::ExactlyOnce).await;
    c
}

/// The socket drops without DISCONNECT: the will is published [MQTT-3.1.2-8] at its QoS
/// (raw wills are QoS 1), and, its retain flag being set, kept as the retained message for
/// later subscribers [MQTT-3.1.2-17].
#[tokio::test]
async fn will_published_when_socket_drops_mqtt_3_1_2_8() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "drop-watcher").await;
    let (raw, ack) = Raw::connected(
        broker.mqtt,
        connect_packet("dropper", true, 30, Some(("will/dropper", "bye", true))),
    )
    .await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    drop(raw);
    let will = receive(&mut watch).await;
    assert_eq!(
        (will.topic.as_str(), &will.payload[..], will.qos, will.retain),
        ("will/dropper", &b"bye"[..], QoS::AtLeastOnce, false),
        "live delivery has RETAIN 0 [MQTT-3.3.1-9]"
    );
    let mut late = connect(&broker, "drop-late", true, None).await;
    subscribe_qos(&mut late, "will/dropper", QoS::AtLeastOnce).await;
    let kept = receive(&mut late).await;
    assert_eq!(
        (&kept.payload[..], kept.retain),
        (&b"bye"[..], true),
        "[MQTT-3.1.2-17]"
    );
}

/// A will with retain 0 is published but not retained [MQTT-3.1.2-16].
#[tokio::test]
async fn will_without_retain_is_not_retained_mqtt_3_1_2_16() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "nr-watcher").await;
    let (raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("nr", true, 30, Some(("will/nr", "gone", false))),
    )
    .await;
    drop(raw);
    assert_eq!(&receive(&mut watch).await.payload[..], b"gone");
    let mut late = connect(&broker, "nr-late", true, None).await;
    subscribe_qos(&mut late, "will/nr", QoS::AtLeastOnce).await;
    no_publish_within(&mut late, QUIET).await;
}

/// A client with keepalive 1 s that sends nothing after CONNECT is disconnected once 1.5 ×
/// keepalive passes [MQTT-3.1.2-24] (not before the keepalive itself, at most a second late),
/// and its will is published.
#[tokio::test]
async fn keepalive_expiry_closes_within_1_5x_and_publishes_the_will_mqtt_3_1_2_24() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "ka-watcher").await;
    let (mut raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("silent", true, 1, Some(("will/silent", "timeout", false))),
    )
    .await;
    let started = Instant::now();
    assert!(raw.closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1000) && took <= Duration::from_millis(2500),
        "closed after {took:?}, want 1.5 s (+ margin)"
    );
    let will = receive(&mut watch).await;
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("will/silent", &b"timeout"[..])
    );
}

/// PINGREQ is answered with PINGRESP [MQTT-3.12.4-1], and a client that pings within its
/// keepalive stays connected well past 1.5 × keepalive.
#[tokio::test]
async fn pingreq_gets_pingresp_and_keeps_the_connection_mqtt_3_12_4_1() {
    let broker = TestBroker::start().await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("pinger", true, 1, None)).await;
    // Pacing, not synchronisation: a ping every 500 ms for 3 s (3 × keepalive), each answered.
    let mut every = tokio::time::interval(Duration::from_millis(500));
    for _ in 0..6 {
        every.tick().await;
        raw.send(&Packet::PingReq).await;
        assert_eq!(raw.next().await, Some(Packet::PingResp));
    }
}

/// DISCONNECT discards the will: it is not published when the connection then closes
/// [MQTT-3.1.2-10, MQTT-3.14.4-3].
#[tokio::test]
async fn no_will_after_disconnect_mqtt_3_1_2_10() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "dc-watcher").await;
    let (mut raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("polite", true, 30, Some(("will/polite", "no", false))),
    )
    .await;
    raw.send(&Packet::Disconnect(arbor_actors::codec::Disconnect::NORMAL))
        .await;
    assert!(
        raw.closed().await.is_empty(),
        "the broker closes after DISCONNECT"
    );
    // A marker published after the close arrives; a will would have come before it or soon
    // after (bounded watch).
    let marker = connect(&broker, "dc-marker", true, None).await;
    marker
        .client
        .publish("will/marker", QoS::AtLeastOnce, false, "marker")
        .await
        .expect("queued");
    assert_eq!(receive(&mut watch).await.topic, "will/marker");
    no_publish_within(&mut watch, QUIET).await;
}

/// A rumqttc client's DISCONNECT discards its will as well.
#[tokio::test]
async fn no_will_after_rumqttc_disconnect_mqtt_3_1_2_10() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "rdc-watcher").await;
    let will = LastWill::new("will/rumqttc", "no", QoS::AtLeastOnce, false);
    let mut c = connect(&broker, "rdc", true, Some(will)).await;
    c.client.disconnect().await.expect("queued");
    closed(&mut c).await;
    no_publish_within(&mut watch, QUIET).await;
}

/// A connection taken over by a new one with the same client id [MQTT-3.1.4-2] ends without
/// DISCONNECT, so its will is published [MQTT-3.1.2-8]; the new connection's will is not.
#[tokio::test]
async fn will_published_on_takeover_mqtt_3_1_2_8() {
    let broker = TestBroker::start().await;
    let mut watch = watcher(&broker, "to-watcher").await;
    let old_will = LastWill::new("will/old", "taken over", QoS::AtLeastOnce, false);
    let mut old = connect(&broker, "heir", true, Some(old_will)).await;
    let mut new_options = options(&broker, "heir");
    new_options.set_last_will(LastWill::new("will/new", "no", QoS::AtLeastOnce, false));
    let (_new, ack) = common::client::connect_with(new_options).await;
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
    closed(&mut old).await;
    let will = receive(&mut watch).await;
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("will/old", &b"taken over"[..])
    );
    no_publish_within(&mut watch, QUIET).await; // the new connection is alive: no will
}
