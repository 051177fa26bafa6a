//! MQTT 5 connections, byte by byte: CONNACK's properties, session expiry, DISCONNECT both
//! ways with reason codes, the will's delay, and refusals with MQTT 5 reason codes.

mod common;

use std::time::Duration;

use arbor_actors::codec::{
    ConnectReturnCode, Disconnect, Packet, Properties, ProtocolLevel, QoS, ReasonCode, TopicName, Will,
};
use bytes::Bytes;
use common::raw::{connect_packet, connect_v5, publish_packet, Raw};
use common::{test_config, TestBroker};

/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

fn expiry(secs: u32) -> Properties {
    Properties {
        session_expiry_interval: Some(secs),
        ..Properties::default()
    }
}

/// [MQTT-3.1.3-6], [MQTT-3.2.2-16]: an empty client id is assigned one, returned in CONNACK
/// with the server's limits (receive maximum, maximum packet size, topic alias maximum).
#[tokio::test]
async fn mqtt_3_2_2_16_connack_carries_the_assigned_id_and_the_servers_limits() {
    let broker = TestBroker::start().await;
    let (_raw, ack) = Raw::connected(broker.mqtt, connect_v5("", true, Properties::default())).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    let p = ack.properties.expect("CONNACK properties");
    let id = p.assigned_client_identifier.expect("an assigned id");
    assert!(id.starts_with("arbor-"), "{id}");
    let cfg = test_config().mqtt;
    assert_eq!(p.receive_maximum, Some(cfg.receive_maximum));
    assert_eq!(p.maximum_packet_size, Some(cfg.max_packet_size));
    assert_eq!(p.topic_alias_maximum, Some(cfg.max_topic_alias));
    assert_eq!(p.maximum_qos, None, "QoS 2 is supported: absent");
    assert!(
        broker.handle.api.registry().client(&id).is_some(),
        "known by the assigned id"
    );
}

/// [MQTT-3.2.2-21]: a keepalive above `mqtt.max_keepalive` is replaced by the Server Keep
/// Alive, which the broker then holds the client to: it is closed with DISCONNECT 0x8D
/// [MQTT-3.1.2-22] after 1.5 times the server's keepalive, not the client's.
#[tokio::test]
async fn mqtt_3_2_2_21_server_keep_alive_is_enforced_with_disconnect_0x8d() {
    let mut config = test_config();
    config.mqtt.max_keepalive = 1;
    let broker = TestBroker::with_config(config).await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_v5("ka", true, Properties::default())).await;
    assert_eq!(ack.properties.unwrap().server_keep_alive, Some(1));
    assert_eq!(raw.expect_disconnect().await, ReasonCode::KEEP_ALIVE_TIMEOUT);
    assert_eq!(raw.next().await, None, "closed after the DISCONNECT");
}

/// [MQTT-3.1.2-23]: a session with a Session Expiry Interval outlives its connection; Clean
/// Start 0 resumes it (session present) with the messages queued meanwhile; an interval of
/// 0 ends the session with the connection.
#[tokio::test]
async fn mqtt_3_1_2_23_session_expiry_keeps_the_session_and_zero_ends_it() {
    let broker = TestBroker::start().await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_v5("exp", true, expiry(60))).await;
    sub.subscribe_v5(1, &[("e/t", QoS::AtLeastOnce.into())], None)
        .await;
    drop(sub);
    common::eventually("the client is gone", || {
        broker.handle.api.registry().client("exp").is_none()
    })
    .await;
    let (mut publisher, _) = Raw::connected(broker.mqtt, connect_packet("exp-pub", true, 30, None)).await;
    publisher
        .send(&publish_packet("e/t", QoS::AtLeastOnce, 1, false, "kept"))
        .await;
    assert!(matches!(publisher.next().await, Some(Packet::PubAck(_))));
    let (mut back, ack) = Raw::connected(broker.mqtt, connect_v5("exp", false, expiry(0))).await;
    assert!(ack.session_present, "[MQTT-3.2.2-2]");
    assert_eq!(&back.expect_publish().await.payload[..], b"kept");
    drop(back);
    // Its new interval is 0: the session ends with this connection.
    common::eventually("the session ended", || {
        broker.handle.api.registry().get("exp").is_none()
    })
    .await;
    let (_again, ack) = Raw::connected(broker.mqtt, connect_v5("exp", false, expiry(0))).await;
    assert!(!ack.session_present);
}

/// [MQTT-3.14.2-2]: a DISCONNECT may not set a Session Expiry Interval when CONNECT's was 0:
/// the server answers DISCONNECT 0x82 and publishes the will (it was not a normal goodbye).
#[tokio::test]
async fn mqtt_3_14_2_2_disconnect_raising_expiry_from_zero_is_a_protocol_error() {
    let broker = TestBroker::start().await;
    let (mut watch, _) = Raw::connected(broker.mqtt, connect_packet("w-watch", true, 30, None)).await;
    watch.subscribe("will/#", QoS::AtLeastOnce).await;
    let mut connect = connect_v5("raiser", true, Properties::default());
    connect.will = Some(will("will/raiser", Properties::default()));
    let (mut raw, _) = Raw::connected(broker.mqtt, connect).await;
    let mut d = Disconnect::NORMAL;
    d.properties = Some(Box::new(expiry(30)));
    raw.send(&Packet::Disconnect(d)).await;
    assert_eq!(raw.expect_disconnect().await, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(&watch.expect_publish().await.topic[..], "will/raiser");
}

fn will(topic: &str, properties: Properties) -> Will {
    Will {
        topic: TopicName::new(topic).unwrap(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Some(Box::new(properties)),
    }
}

/// [MQTT-3.14.4-3]: DISCONNECT 0x04 publishes the will; 0x00 does not.
#[tokio::test]
async fn mqtt_3_14_4_3_disconnect_with_will_message_publishes_it() {
    let broker = TestBroker::start().await;
    let (mut watch, _) = Raw::connected(broker.mqtt, connect_packet("d-watch", true, 30, None)).await;
    watch.subscribe("will/#", QoS::AtLeastOnce).await;
    for (id, reason) in [
        ("normal", ReasonCode::NORMAL_DISCONNECTION),
        ("with-will", ReasonCode::DISCONNECT_WITH_WILL_MESSAGE),
    ] {
        let mut connect = connect_v5(id, true, Properties::default());
        connect.will = Some(will(&format!("will/{id}"), Properties::default()));
        let (mut raw, _) = Raw::connected(broker.mqtt, connect).await;
        raw.send(&Packet::Disconnect(Disconnect::with_reason(reason)))
            .await;
        assert_eq!(raw.next().await, None);
    }
    assert_eq!(
        &watch.expect_publish().await.topic[..],
        "will/with-will",
        "only 0x04's will"
    );
    assert!(watch.next_within(QUIET).await.is_err());
}

/// [MQTT-3.1.3-9]: a will with a delay waits; a connection that takes the session over
/// within the delay cancels it; without one it is published once the delay has passed, with
/// its properties.
#[tokio::test]
async fn mqtt_3_1_3_9_will_delay_waits_and_a_reconnect_cancels_it() {
    let broker = TestBroker::start().await;
    let (mut watch, _) =
        Raw::connected(broker.mqtt, connect_v5("wd-watch", true, Properties::default())).await;
    watch
        .subscribe_v5(1, &[("will/#", QoS::AtLeastOnce.into())], None)
        .await;
    let delayed = |id: &str, delay: u32| {
        let mut connect = connect_v5(id, true, expiry(60));
        connect.will = Some(will(
            &format!("will/{id}"),
            Properties {
                will_delay_interval: Some(delay),
                content_type: Some("text/plain".into()),
                ..Properties::default()
            },
        ));
        connect
    };
    let (back, _) = Raw::connected(broker.mqtt, delayed("returns", 30)).await;
    drop(back);
    let (_back, ack) = Raw::connected(broker.mqtt, connect_v5("returns", false, expiry(60))).await;
    assert!(ack.session_present);
    let (gone, _) = Raw::connected(broker.mqtt, delayed("leaves", 1)).await;
    let dropped_at = tokio::time::Instant::now();
    drop(gone);
    let will = watch.expect_publish().await;
    assert!(
        dropped_at.elapsed() >= Duration::from_millis(900),
        "after the delay"
    );
    assert_eq!(
        &will.topic[..],
        "will/leaves",
        "the reconnected client's will never comes"
    );
    let props = will.properties.expect("the will's properties are forwarded");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.will_delay_interval, None, "not a PUBLISH property");
}

/// [MQTT-3.14.0-1], 0x8E: a connection taken over by another with the same client id is told
/// so in a DISCONNECT before it is closed.
#[tokio::test]
async fn takeover_sends_disconnect_0x8e_to_the_old_connection() {
    let broker = TestBroker::start().await;
    let (mut old, _) = Raw::connected(broker.mqtt, connect_v5("taken", true, expiry(60))).await;
    let (_new, ack) = Raw::connected(broker.mqtt, connect_v5("taken", false, expiry(60))).await;
    assert!(ack.session_present);
    assert_eq!(old.expect_disconnect().await, ReasonCode::SESSION_TAKEN_OVER);
    assert_eq!(old.next().await, None);
}

/// 0x8B: a broker that stops tells its MQTT 5 clients; a 3.1.1 client hears nothing (it has no
/// server DISCONNECT) and is closed.
#[tokio::test]
async fn shutdown_sends_disconnect_0x8b() {
    let broker = TestBroker::start().await;
    let (mut v5, _) = Raw::connected(broker.mqtt, connect_v5("stop5", true, Properties::default())).await;
    let (mut v3, _) = Raw::connected(broker.mqtt, connect_packet("stop3", true, 30, None)).await;
    broker.handle.shutdown().await;
    assert_eq!(v5.expect_disconnect().await, ReasonCode::SERVER_SHUTTING_DOWN);
    assert_eq!(v3.next().await, None);
}

/// [MQTT-4.12.0-1]: an authentication method the server does not support gets CONNACK 0x8C.
#[tokio::test]
async fn mqtt_4_12_0_1_unknown_authentication_method_gets_0x8c() {
    let broker = TestBroker::start().await;
    let props = Properties {
        authentication_method: Some("KERBEROS-9".into()),
        ..Properties::default()
    };
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_v5("auth", true, props)).await;
    assert_eq!(ack.code, ConnectReturnCode::BadAuthenticationMethod);
    assert_eq!(raw.next().await, None);
}

/// [MQTT-3.2.2-12], [MQTT-3.2.2-13]: a will above the server's Maximum QoS gets 0x9B, a
/// retained will while retain is off 0x9A.
#[tokio::test]
async fn mqtt_3_2_2_12_will_beyond_the_servers_limits_is_refused() {
    let mut config = test_config();
    config.mqtt.max_qos = 0;
    config.mqtt.retain_available = false;
    let broker = TestBroker::with_config(config).await;
    let mut connect = connect_v5("wq", true, Properties::default());
    connect.will = Some(will("will/wq", Properties::default()));
    let (_raw, ack) = Raw::connected(broker.mqtt, connect).await;
    assert_eq!(ack.code, ConnectReturnCode::QoSNotSupported);
    let mut connect = connect_v5("wr", true, Properties::default());
    let mut w = will("will/wr", Properties::default());
    (w.qos, w.retain) = (QoS::AtMostOnce, true);
    connect.will = Some(w);
    let (_raw, ack) = Raw::connected(broker.mqtt, connect).await;
    assert_eq!(ack.code, ConnectReturnCode::RetainNotSupported);
}

/// A malformed MQTT 5 CONNECT (a property twice) is refused with an MQTT 5 CONNACK 0x82
/// [MQTT-3.1.4-1], readable by the v5 client.
#[tokio::test]
async fn a_v5_connect_with_a_duplicate_property_gets_a_v5_connack() {
    let broker = TestBroker::start().await;
    let mut raw = Raw::open(broker.mqtt).await;
    raw.level = ProtocolLevel::V5;
    // CONNECT v5, clean start, keepalive 30, properties: session expiry twice, client id "d".
    let frame = [
        0x10, 23, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 1,
        b'd',
    ];
    let mut frame = frame.to_vec();
    frame[1] = (frame.len() - 2) as u8;
    raw.send_bytes(&frame).await;
    match raw.next().await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.code.reason_code(), ReasonCode::PROTOCOL_ERROR),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// 0x98: an operator's kick (`ctl clients kick`) tells an MQTT 5 client why before it closes.
#[tokio::test]
async fn a_kick_sends_disconnect_0x98() {
    let broker = TestBroker::start().await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_v5("kicked", true, Properties::default())).await;
    assert!(broker.handle.api.kick("kicked"));
    assert_eq!(raw.expect_disconnect().await, ReasonCode::ADMINISTRATIVE_ACTION);
    assert_eq!(raw.next().await, None);
}
