//! Connection-level protocol rules, in raw bytes against a running broker: what must come
//! first, what closes the connection, protocol names and levels, the CONNECT deadline, and
//! MQTT 3.1 (`MQIsdp`, level 3) beside 3.1.1. Wills and keepalive are in `mqtt_will.rs`, the
//! malformed corpus in `malformed.rs`.

mod common;

use std::time::Duration;

use arbor_actors::codec::{
    Ack, ConnAck, ConnectReturnCode, Disconnect, Packet, ProtocolLevel, QoS, SubackCode,
};
use common::client::{connect, publish_acked, receive, subscribe_qos};
use common::raw::{connect_packet, publish_packet, Raw};
use common::{test_config, TestBroker};
use tokio::time::Instant;

/// A CONNECT frame: protocol name and level, flags 0x02 (clean session), keepalive 30, then a
/// client id.
fn connect_frame(name: &[u8], level: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend((name.len() as u16).to_be_bytes());
    body.extend(name);
    body.extend([level, 0x02, 0, 30]);
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    let mut frame = vec![0x10, u8::try_from(body.len()).expect("short frame")];
    frame.extend(body);
    frame
}

/// What the broker sent before closing was nothing, or one CONNACK refusing with `code`.
fn refused_or_silent(seen: &[Packet], code: ConnectReturnCode) -> bool {
    match seen {
        [] => true,
        [Packet::ConnAck(ConnAck {
            code: got,
            session_present: false,
            properties: None,
        })] => *got == code,
        _ => false,
    }
}

#[tokio::test]
async fn first_packet_not_connect_closes_mqtt_3_1_0_1() {
    let broker = TestBroker::start().await;
    for (name, packet) in [
        ("PINGREQ", Packet::PingReq),
        ("PUBLISH", publish_packet("t", QoS::AtMostOnce, 0, false, "x")),
        ("DISCONNECT", Packet::Disconnect(Disconnect::NORMAL)),
    ] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send(&packet).await;
        let seen = raw.closed().await;
        assert!(
            seen.is_empty(),
            "{name} first: closed without a reply, got {seen:?}"
        );
    }
    // The broker itself is fine.
    connect(&broker, "after-bad-first", true, None).await;
}

#[tokio::test]
async fn second_connect_closes_mqtt_3_1_0_2() {
    let broker = TestBroker::start().await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("twice", true, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    raw.send(&Packet::Connect(Box::new(connect_packet(
        "twice", true, 30, None,
    ))))
    .await;
    let seen = raw.closed().await;
    assert!(seen.is_empty(), "no second CONNACK: {seen:?}");
}

/// An unsupported protocol level gets CONNACK 0x01 and the connection is closed
/// [MQTT-3.1.2-2]; a level-5 CONNECT is the common case (an MQTT 5 client).
#[tokio::test]
async fn connect_level_5_gets_connack_0x01_then_close_mqtt_3_1_2_2() {
    let broker = TestBroker::start().await;
    let mut raw = Raw::open(broker.mqtt).await;
    // MQTT 5: after the keepalive comes a properties length (0) before the client id.
    raw.send_bytes(&[
        0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 0, 0, 2, b'v', b'5',
    ])
    .await;
    let seen = raw.closed().await;
    assert!(
        matches!(seen.as_slice(), [Packet::ConnAck(ack)] if ack.code == ConnectReturnCode::UnacceptableProtocolVersion && !ack.session_present),
        "{seen:?}"
    );
    // Level 5 without v5 properties, and levels 0 and 6: refused the same way.
    for level in [0u8, 5, 6] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send_bytes(&connect_frame(b"MQTT", level, "lv")).await;
        let seen = raw.closed().await;
        assert!(
            refused_or_silent(&seen, ConnectReturnCode::UnacceptableProtocolVersion),
            "level {level}: {seen:?}"
        );
        assert!(
            !seen.is_empty(),
            "level {level}: CONNACK 0x01 expected [MQTT-3.1.2-2]"
        );
    }
}

/// A protocol name other than `MQTT` (3.1.1) or `MQIsdp` (3.1), or a name that does not fit its
/// level, closes the connection, with at most a CONNACK 0x01 [MQTT-3.1.2-1].
#[tokio::test]
async fn bad_protocol_name_closes_mqtt_3_1_2_1() {
    let broker = TestBroker::start().await;
    for (name, level) in [
        (&b"MQTX"[..], 4u8),
        (&b"mqtt"[..], 4),
        (&b""[..], 4),
        (&b"MQIsdp"[..], 4),
        (&b"MQTT"[..], 3),
        (&b"HTTP/1.1"[..], 4),
    ] {
        let mut raw = Raw::open(broker.mqtt).await;
        raw.send_bytes(&connect_frame(name, level, "badname")).await;
        let seen = raw.closed().await;
        assert!(
            refused_or_silent(&seen, ConnectReturnCode::UnacceptableProtocolVersion),
            "{:?} level {level}: {seen:?}",
            String::from_utf8_lossy(name)
        );
    }
}

/// A connection that sends no CONNECT within `mqtt.connect_timeout` is closed (emqttd's
/// idle_timeout), neither early nor much later.
#[tokio::test]
async fn no_connect_within_connect_timeout_closes() {
    let mut config = test_config();
    config.mqtt.connect_timeout = Duration::from_millis(500);
    let broker = TestBroker::with_config(config).await;
    let started = Instant::now();
    let mut raw = Raw::open(broker.mqtt).await;
    assert!(raw.closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}, want about 500 ms"
    );
    // Half a CONNECT is no better than none.
    let started = Instant::now();
    let mut raw = Raw::open(broker.mqtt).await;
    raw.send_bytes(&connect_frame(b"MQTT", 4, "slow")[..6]).await;
    assert!(raw.closed().await.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// MQTT 3.1 (`MQIsdp`, level 3): CONNECT accepted with 0x00 and no session-present flag;
/// SUBSCRIBE, PUBLISH at QoS 1 and 2 work, and messages cross between 3.1 and 3.1.1 clients.
#[tokio::test]
async fn mqtt_3_1_mqisdp_connect_publish_and_subscribe_work() {
    let broker = TestBroker::start().await;
    let mut connect31 = connect_packet("v31-client", true, 30, None);
    connect31.level = ProtocolLevel::V31;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect31).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (ConnectReturnCode::Accepted, false)
    );
    let suback = raw.subscribe("v31/#", QoS::ExactlyOnce).await;
    assert_eq!(suback.return_codes, [SubackCode::Success(QoS::ExactlyOnce)]);
    // QoS 1 to itself: a PUBACK and the message, in either order.
    raw.send(&publish_packet("v31/a", QoS::AtLeastOnce, 1, false, "one"))
        .await;
    let mut got_ack = false;
    let mut got_msg = false;
    while !(got_ack && got_msg) {
        match raw.next().await {
            Some(Packet::PubAck(ack)) if ack.pkid.get() == 1 => got_ack = true,
            Some(Packet::Publish(p)) if !got_msg => {
                assert_eq!((&p.payload[..], p.qos), (&b"one"[..], QoS::AtLeastOnce));
                raw.send(&Packet::PubAck(Ack::new(p.pkid.expect("QoS 1")))).await;
                got_msg = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // QoS 2 from a 3.1.1 client to the 3.1 one, and from the 3.1 one to a 3.1.1 subscriber.
    let mut modern = connect(&broker, "v311-client", true, None).await;
    subscribe_qos(&mut modern, "v311/t", rumqttc::QoS::ExactlyOnce).await;
    publish_acked(&mut modern, "v31/b", rumqttc::QoS::ExactlyOnce, false, "two").await;
    let p = raw.expect_publish().await;
    assert_eq!((&p.payload[..], p.qos), (&b"two"[..], QoS::ExactlyOnce));
    let pkid = p.pkid.expect("QoS 2");
    raw.send(&Packet::PubRec(Ack::new(pkid))).await;
    assert_eq!(raw.next().await, Some(Packet::PubRel(Ack::new(pkid))));
    raw.send(&Packet::PubComp(Ack::new(pkid))).await;
    raw.send(&publish_packet("v311/t", QoS::ExactlyOnce, 2, false, "three"))
        .await;
    let rec = raw.next().await;
    assert!(
        matches!(&rec, Some(Packet::PubRec(ack)) if ack.pkid.get() == 2),
        "{rec:?}"
    );
    raw.send(&Packet::PubRel(Ack::new(
        arbor_actors::codec::PacketId::new(2).expect("non-zero"),
    )))
    .await;
    assert!(matches!(raw.next().await, Some(Packet::PubComp(ack)) if ack.pkid.get() == 2));
    let p = receive(&mut modern).await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"three"[..], rumqttc::QoS::ExactlyOnce)
    );
}

/// A client that sends a server-only packet (CONNACK, SUBACK, PINGRESP) after CONNECT is
/// closed: a protocol violation [MQTT-4.8.0-1].
#[tokio::test]
async fn server_only_packet_from_client_closes() {
    let broker = TestBroker::start().await;
    for (i, bytes) in [
        vec![0x20, 0x02, 0x00, 0x00],
        vec![0x90, 0x03, 0x00, 0x01, 0x00],
        vec![0xD0, 0x00],
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("server-only-{i}");
        let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet(&id, true, 30, None)).await;
        raw.send_bytes(&bytes).await;
        let seen = raw.closed().await;
        assert!(seen.is_empty(), "{bytes:02x?}: {seen:?}");
    }
}
